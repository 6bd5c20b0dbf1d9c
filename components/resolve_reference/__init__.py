"""Find the reference data of a drift check: given, or the champion's training snapshot."""
