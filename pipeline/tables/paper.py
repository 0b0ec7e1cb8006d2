"""The paper's published numbers, shown beside ours in every table (`tables --paper`).

`paper_metrics.csv` (next to this file) holds them as a tidy metrics table, in the format of
`results/metrics.csv` (docs/architecture.md, "The tidy metrics file"): accuracies as fractions, `pretrained` true
(all of the paper's models started from pretrained weights). It holds:

- Table B.6 in full: per class (DF, F2F, FS, NT, FShi, real) and the printed Fake (`fake`) and avg
  (`overall`) of the all-methods run and the five leave-one-out runs of Xception, EfficientNet-B3,
  EffB3+biGRU, R3D-18 and I3D-RGB. Table 1 needs nothing else: its left part is B.6's all-methods rows,
  its left-out columns B.6's diagonal, its mean drop the mean of B.6's drops.
- Table 3: the left-out methods' accuracies of the group runs (wo_MM: F2F, FS; wo_decoder: DF, NT,
  FShi; wo_swap: DF, FS, FShi; wo_reenact: F2F, NT); the group averages are computed from them.
- Table 2: the DeeperForensics-1.0 end_to_end accuracies of the FF++ all-methods models.
- Table 4: the log-losses per class of the DFDC-trained RNN and R3D on the 16-frame clips
  (original, flip 1/3/5, flip every 2nd, shuffle).

Which model the paper's "RNN" is: in Tables 1, 2 and 3 it is `efficientnet_b3_bigru`. Table 1's RNN row
equals Table B.6's "Eff + biGRU" block, Table 2 tests "the instances of the models ... from table 1",
and Table 3 is taken to use the same RNN (it does not say). In Table 4 it is `efficientnet_b3_lstm`
(its caption: "LSTM on top of the EfficientNet-B3").

Cells transcribed with doubt. The paper's text (an OCR of the PDF) garbles a few cells; each one below
was rebuilt from numbers printed elsewhere, and the reconstruction agrees with every printed average:
- Table B.6, I3D-RGB (all 5 cells checked against the row's Fake, avg and drop, and the mean drop -3.37):
  - wo_DF, DF: 77.86 (OCR "100.00"), from Table 1's DF left-out column;
  - wo_NT, F2F: 97.86 (OCR "97.80", not a multiple of 1/140); NT: 71.43 (OCR "/1.43"), from Table 1;
    FShi: 96.43 (OCR "90.43"), from the row's Fake 91.57; Real: 86.43 (OCR "80.43"), from avg 89.00;
  - wo_FShi, DF: 97.86 (OCR "97.80"), from Fake 90.43; FShi: 63.57 (OCR "03.57"), from Table 1;
    avg: 85.21 (OCR "83.21") = (Real 80.00 + Fake 90.43) / 2; its drop is then -3.36 (OCR "-5.50").
- Table 3, top, I3D-RGB: FS 18.57 (OCR "18."), from MM 52.14 = (F2F 85.71 + FS) / 2; F2F 85.71 is printed
  after a stray "9".
- Table 3, bottom, EfficientNet-B3: the OCR reads six numbers "40.71 6.43 0 0 5 1.43" for five cells;
  DF 40.71, F2F 6.43, FS 0, NT 5.00, FShi 1.43 is the reading that gives the printed swap 14.05 and
  reenact 5.71.
- Table 3, top, R3D-18: the printed DF 2.14, NT 0.71, FShi 17.86 average to 6.90, not the printed
  "learned" 6.67 (which NT = 0 would give). The per-method cells are kept as printed, so our table's
  paper value of R3D's "learned" is 6.90.
- Table 2, Xception: 24.28 as printed (34 of 140 videos would be 24.29).
"""
from __future__ import annotations

from pathlib import Path

from pipeline.tables.lookup import Metrics

PAPER_METRICS = Path(__file__).with_name("paper_metrics.csv")
NO_PAPER = "none"

COMMON_NOTE = ("Rows 'paper': the values published in the paper (Ganiyusufoglu et al.); Δ = ours − paper, in "
               "the table's units.")
NOTES = {
    "table1": "The paper's RNN row is Table B.6's Eff + biGRU block, shown as EffB3+biGRU; its left-out columns "
              "are Table B.6's diagonal.",
    "table_b6": "Five cells of the paper's I3D-RGB block are garbled in its text and were rebuilt from Table 1 "
                "and the printed Fake and avg (pipeline/tables/paper.py).",
    "table2": "The paper's RNN (the instance of Table 1) is shown as EffB3+biGRU.",
    "table3": "The paper's RNN is taken to be EffB3+biGRU, as in Table 1. Its R3D-18 'learned' is printed as 6.67, "
              "but its printed DF, NT and FShi average to 6.90, shown here.",
    "table4": "The paper's RNN is EffB3+LSTM (its Table 4 caption); it hand-picked 95 real and 72 fake DFDC "
              "clips with motion, this workflow draws them at random.",
}


def load_paper(path: str | Path | None) -> Metrics | None:
    """The published numbers from `path` (default the shipped file), or None for `none`."""
    if path is not None and str(path).lower() == NO_PAPER:
        return None
    return Metrics(str(path or PAPER_METRICS))


def paper_note(table_name: str) -> str:
    return " ".join(n for n in (COMMON_NOTE, NOTES.get(table_name, "")) if n)
