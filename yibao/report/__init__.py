"""`make report`: what happened in the conversations, from the tracker store, as one HTML file.

source.py reads the events, aggregate.py counts them, cluster.py groups near-duplicate questions,
render.py writes the HTML and export.py the unanswered questions for labelling. scripts/report.py is
the command line.
"""

from yibao.report.aggregate import Report, build_report
from yibao.report.export import nlu_yaml, unanswered_csv, write_unanswered
from yibao.report.render import render_html
from yibao.report.source import ReportSourceError, read_events, tracker_db_url

__all__ = [
    "Report",
    "ReportSourceError",
    "build_report",
    "nlu_yaml",
    "read_events",
    "render_html",
    "tracker_db_url",
    "unanswered_csv",
    "write_unanswered",
]
