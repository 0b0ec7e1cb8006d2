"""Tables from tidy metrics: the paper's Table B.6 arithmetic, Table 1 and 3 layout, partial inputs."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from pipeline.tables.cli import build_tables
from pipeline.tables.generalization import table1, table3, table_b6
from pipeline.tables.lookup import Metrics
from pipeline.tables.render import to_latex, to_markdown, write_tables

METHODS = ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter"]
CONDITIONS = ["all", "wo_DF", "wo_F2F", "wo_FS", "wo_NT", "wo_FShi"]

# Paper, Table B.6: per run DF F2F FS NT FShi Real | Fake avg drop; then the model's mean drop.
B6 = {
    "xception": ([
        (99.29, 97.86, 97.86, 95.71, 95.71, 100.00, 97.29, 98.64, None),
        (21.43, 91.43, 95.00, 95.71, 94.29, 99.29, 79.57, 89.43, -9.21),
        (97.14, 12.14, 98.57, 93.57, 97.14, 99.29, 79.71, 89.50, -9.14),
        (98.57, 99.29, 0.00, 97.86, 87.14, 99.29, 76.57, 87.93, -10.71),
        (91.43, 93.57, 97.14, 0.00, 88.57, 100.00, 74.14, 87.07, -11.57),
        (95.71, 88.57, 99.29, 93.57, 1.43, 100.00, 75.71, 87.86, -10.78),
    ], -10.28),
    "efficientnet_b3": ([
        (97.86, 94.29, 98.57, 97.86, 96.43, 100.00, 97.00, 98.50, None),
        (15.71, 92.14, 91.43, 95.00, 97.14, 100.00, 78.29, 89.14, -9.36),
        (95.71, 7.14, 92.86, 93.57, 94.29, 99.29, 76.71, 88.00, -10.50),
        (95.00, 92.14, 0.00, 93.57, 94.29, 100.00, 75.00, 87.50, -11.00),
        (87.86, 81.43, 95.00, 0.00, 91.43, 100.00, 71.14, 85.57, -12.93),
        (100.00, 94.29, 95.71, 97.14, 15.00, 99.29, 80.43, 89.86, -8.64),
    ], -10.49),
    "efficientnet_b3_bigru": ([
        (100.00, 100.00, 100.00, 98.57, 98.57, 97.14, 99.43, 98.29, None),
        (71.43, 99.29, 99.29, 98.57, 97.86, 97.14, 93.29, 95.21, -3.08),
        (98.57, 35.00, 96.43, 99.29, 98.57, 95.00, 85.57, 90.29, -8.00),
        (100.00, 100.00, 4.29, 99.29, 98.57, 98.57, 80.43, 89.50, -8.79),
        (97.86, 97.14, 100.00, 7.86, 98.57, 100.00, 80.29, 90.14, -8.15),
        (100.00, 99.29, 100.00, 98.57, 26.43, 97.86, 84.86, 91.36, -6.93),
    ], -6.99),
    "r3d_18": ([
        (97.86, 97.86, 99.29, 99.29, 95.71, 93.57, 98.00, 95.79, None),
        (62.14, 100.00, 99.29, 100.00, 98.57, 90.71, 92.00, 91.36, -4.43),
        (97.86, 75.00, 97.14, 98.57, 97.14, 94.29, 93.14, 93.71, -2.08),
        (97.86, 100.00, 5.00, 100.00, 96.43, 92.86, 79.86, 86.36, -9.43),
        (97.86, 97.14, 98.57, 57.14, 96.43, 93.57, 89.43, 91.50, -4.29),
        (99.29, 100.00, 100.00, 98.57, 56.43, 92.14, 90.86, 91.50, -4.29),
    ], -4.90),
}


def tidy_row(model, condition, cls, value, testset="ffpp", metric="accuracy", dataset="ffpp", pretrained=True):
    return {"model": model, "dataset": dataset, "condition": condition, "testset": testset, "class": cls,
            "metric": metric, "value": value, "pretrained": pretrained}


def paper_b6_metrics() -> pd.DataFrame:
    """Only the per-class numbers of Table B.6 (fractions, as `evaluate` writes them); no fake/overall rows."""
    rows = []
    for model, (runs, _) in B6.items():
        for condition, run in zip(CONDITIONS, runs, strict=True):
            for cls, value in zip([*METHODS, "real"], run[:6], strict=True):
                rows.append(tidy_row(model, condition, cls, value / 100, pretrained=model != "r3d_18"))
    return pd.DataFrame(rows)


def test_table_b6_reproduces_paper_fake_avg_drop():
    frame = table_b6(Metrics(paper_b6_metrics())).frame
    names = {"xception": "Xception", "efficientnet_b3": "EfficientNet-B3", "efficientnet_b3_bigru": "EffB3+biGRU",
             "r3d_18": "R3D-18"}
    for model, (runs, mean_drop) in B6.items():
        for condition, run in zip(CONDITIONS, runs, strict=True):
            row = frame.loc[(names[model], condition)]
            assert row["Fake"] == pytest.approx(run[6], abs=0.011), (model, condition)
            assert row["avg"] == pytest.approx(run[7], abs=0.011), (model, condition)
            if run[8] is None:
                assert math.isnan(row["drop"])
            else:
                assert row["drop"] == pytest.approx(run[8], abs=0.02), (model, condition)
        assert frame.loc[(names[model], "mean drop"), "drop"] == pytest.approx(mean_drop, abs=0.02), model


def test_table1_left_and_right():
    table = table1(Metrics(paper_b6_metrics()))
    xception = table.frame.loc["Xception"]
    assert xception["overall"] == pytest.approx(98.64, abs=0.01)
    left_out = [xception[f"{s} left out"] for s in ("DF", "F2F", "FS", "NT", "FShi")]
    assert left_out == pytest.approx([21.43, 12.14, 0.00, 0.00, 1.43], abs=1e-9)
    assert xception["mean drop"] == pytest.approx(-10.28, abs=0.02)
    assert list(table.frame.index) == ["Xception", "EfficientNet-B3", "EffB3+biGRU", "R3D-18"]
    assert "R3D-18" in table.notes[0] and "pretrained=false" in table.notes[0]


def test_table3_takes_each_method_from_its_groups_run():
    # Paper, Table 3, Xception: top (wo_MM: F2F, FS; wo_decoder: DF, NT, FShi), bottom (wo_swap; wo_reenact).
    runs = {"wo_MM": {"Face2Face": 28.57, "FaceSwap": 0.71},
            "wo_decoder": {"Deepfakes": 2.14, "NeuralTextures": 0.0, "FaceShifter": 0.71},
            "wo_swap": {"Deepfakes": 30.71, "FaceSwap": 0.71, "FaceShifter": 4.29},
            "wo_reenact": {"Face2Face": 7.14, "NeuralTextures": 6.43}}
    rows = [tidy_row("xception", c, m, v / 100) for c, vals in runs.items() for m, v in vals.items()]
    # decoys: the same methods in the other runs must not leak into the table
    rows += [tidy_row("xception", c, m, 0.99) for c in runs for m in METHODS if m not in runs[c]]
    frame = table3(Metrics(pd.DataFrame(rows))).frame
    top, bottom = frame.loc[("architecture", "Xception")], frame.loc[("task", "Xception")]
    assert [top[k] for k in ("DF", "F2F", "FS", "NT", "FShi")] == pytest.approx([2.14, 28.57, 0.71, 0.0, 0.71])
    assert top["MM"] == pytest.approx(14.64, abs=0.01)
    assert top["learned"] == pytest.approx(0.95, abs=0.01)
    assert [bottom[k] for k in ("DF", "F2F", "FS", "NT", "FShi")] == pytest.approx([30.71, 7.14, 0.71, 6.43, 4.29])
    assert bottom["swap"] == pytest.approx(11.90, abs=0.01)
    assert bottom["reenact"] == pytest.approx(6.79, abs=0.01)


def test_partial_metrics_render_with_dash(tmp_path):
    rows = [tidy_row("r3d_18", "all", "real", 0.9), tidy_row("r3d_18", "all", "Deepfakes", 0.8),
            tidy_row("r3d_18", "wo_DF", "Deepfakes", 0.5, pretrained=False),
            tidy_row("i3d_rgb", "all", "end_to_end", 0.7, testset="deeperforensics"),
            tidy_row("r3d_18", "all", "real", 0.2, testset="dfdc_perturb", metric="logloss:shuffle", dataset="dfdc")]
    path = tmp_path / "metrics.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    tables = build_tables(Metrics(str(path)))
    assert {t.name for t in tables} == {"table1", "table_b6", "table2", "table3", "table4", "table_celebdf",
                                       "table_dfdc"}
    for table in tables:
        md, tex = to_markdown(table), to_latex(table)
        assert table.caption in md and "nan" not in md.lower() and "nan" not in tex.lower()
    md1 = to_markdown(tables[0])
    assert "–" in md1 and "80.00" in md1 and "50.00" in md1
    assert "pretrained=false" in tables[0].notes[0]
    assert "70.00" in to_markdown(tables[2])  # DeeperForensics: the single fake method is the fake class
    assert "0.20" in to_markdown(tables[4])
    written = write_tables(tables, tmp_path / "tables")
    assert (tmp_path / "tables" / "tables.md").exists() and len(written) == 3 * len(tables) + 1
    csv = pd.read_csv(tmp_path / "tables" / "table1.csv")
    assert csv.loc[0, "DF"] == pytest.approx(80.0) and math.isnan(csv.loc[0, "F2F"])


def test_empty_metrics_give_empty_tables(tmp_path):
    path = tmp_path / "metrics.csv"
    pd.DataFrame(columns=["model", "dataset", "condition", "testset", "class", "metric", "value",
                          "pretrained"]).to_csv(path, index=False)
    tables = build_tables(Metrics(str(path)))
    assert all(len(t.frame) == 0 for t in tables)
    write_tables(tables, tmp_path / "out")
    assert "No results yet." in (tmp_path / "out" / "tables.md").read_text()
