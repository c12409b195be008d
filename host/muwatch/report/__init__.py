"""HTML reports with matplotlib figures: one analysed recording (`write_report`) and a subject's
trend across sessions (`write_trend_report`). Each report is one self-contained HTML file (figures
embedded as PNG) that opens anywhere, offline."""

from muwatch.report.html import write_report
from muwatch.report.trend import write_trend_report

__all__ = ["write_report", "write_trend_report"]
