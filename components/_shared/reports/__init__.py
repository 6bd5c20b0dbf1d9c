"""Human reports: Markdown for the Kubeflow UI and inline SVG charts for the HTML ones."""
