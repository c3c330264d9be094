"""The colours of everything pgx draws: the patient PDF (:mod:`pgx.report`) and the batch
QC report (:mod:`pgx.qc`), as hex strings, so both read as one product.

Action colours follow the urgency of what they mark (red: avoid; orange: use an
alternative; amber: adjust; blue: monitor; green: use as usual; grey: nothing to do).
"""

INK = "#1A1A1A"  # body text
MUTED = "#5F6368"  # secondary text
RULE = "#B0B5BA"  # lines and axes
HEAD_BG = "#E8EAED"  # table header background
ACCENT = "#1F3A5F"  # titles

RED = "#B3261E"
ORANGE = "#C25100"
AMBER = "#7A5A00"
BLUE = "#1F5FA8"
GREEN = "#2E7D32"
GREY = "#5F6368"
