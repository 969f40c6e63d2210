"""Infrastructure every chapter shares: the runtime, input checks, the book's metrics, plotting and explorers.

- ``runtime``: device, seeding, compute profiles (cpu / gpu sizes), progress bars, thread control.
- ``validation``: the one way to check each kind of input; bad input raises a clear ``ValueError``.
- ``metrics``: the relative error every chapter reports (kernel movement, approximation and score errors).
- ``plotting``: the house style and log-log plots with a fitted slope.
- ``explorer``: sliders in Jupyter, pre-rendered frames on the built site.
- ``checking``: ``check("ex-label", answer)``: a student's answer against the package's reference, and what is wrong.
- ``glue``: computed numbers recorded for the prose (MyST-NB ``{glue:text}``), so no number is typed by hand.
"""
