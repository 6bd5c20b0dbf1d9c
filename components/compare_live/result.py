"""The live comparison's verdict, and the JSON it leaves on the challenger version."""

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from components.compare_live.pairs import PairCounts

CANNOT = "CANNOT JUDGE: "  # how a reason that could not judge starts
MAX_REASON_CHARS = 1000  # of the reason in the version tag (MLflow bounds a tag's value)


@dataclass
class ComparisonResult:
    """Challenger (the shadow's version) against champion (the primary's) on the same rows.

    Attributes:
        passed: Every check held; never True when it cannot judge.
        cannot_judge: Too little or mixed evidence (see reasons); not passed.
        reasons: Why not passed (empty when passed).
        notes: What else a reader should know (counts, groups too small...).
        champion_version / challenger_version: The versions compared ("" when unknown).
        counts: Rows and labels, paired and not.
        classes: The classes seen (predicted by either model, or labelled).
        agreement: Share of paired rows where both predict the same class.
        shares: class -> {champion, challenger, difference} prediction shares.
        metric: The metric judged; champion_value / challenger_value on the labelled rows.
        delta / delta_low / delta_high: challenger - champion and its 95 % interval.
        method: How the interval was made.
        fairness: Per sensitive feature (fairness.feature_fairness), when checked.
        settings: The parameters the verdict was made with.
    """

    passed: bool
    cannot_judge: bool
    reasons: list[str]
    notes: list[str] = field(default_factory=list)
    champion_version: str = ""
    challenger_version: str = ""
    counts: PairCounts | None = None
    classes: list = field(default_factory=list)
    agreement: float | None = None
    shares: dict = field(default_factory=dict)
    metric: str = "accuracy"
    champion_value: float | None = None
    challenger_value: float | None = None
    delta: float | None = None
    delta_low: float | None = None
    delta_high: float | None = None
    method: str = ""
    fairness: list[dict] = field(default_factory=list)
    label_counts: dict | None = None
    settings: dict = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """PASSED, FAILED or CANNOT JUDGE."""
        if self.cannot_judge:
            return "CANNOT JUDGE"
        return "PASSED" if self.passed else "FAILED"

    @property
    def cannot_judge_reason(self) -> str | None:
        """Why it could not judge (its CANNOT JUDGE reasons, without the prefix), or None."""
        if not self.cannot_judge:
            return None
        said = [r.removeprefix(CANNOT) for r in self.reasons if r.startswith(CANNOT)]
        return "; ".join(said)[:MAX_REASON_CHARS]

    def tag(self, run: str, at: str | None = None) -> dict:
        """The LIVE_COMPARISON_TAG JSON of the challenger version."""
        counts = self.counts
        return {
            "passed": self.passed,
            # An approver reads "cannot judge: why", not "failed": too little evidence is not
            # a challenger shown worse.
            "cannot_judge": self.cannot_judge,
            "cannot_judge_reason": self.cannot_judge_reason,
            "champion_version": self.champion_version,
            "requests": counts.requests if counts else 0,
            "labelled": counts.labelled_rows if counts else 0,
            "agreement": self.agreement,
            "metric": self.metric,
            "champion_value": self.champion_value,
            "challenger_value": self.challenger_value,
            "delta_low": self.delta_low,
            "delta_high": self.delta_high,
            "run": run,
            "at": at or datetime.now(UTC).isoformat(),
        }

    def as_dict(self) -> dict:
        """Plain data for the report's metadata."""
        data = asdict(self)
        data["verdict"] = self.verdict
        return data
