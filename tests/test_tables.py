"""Tables from tidy metrics: the paper's Table B.6 arithmetic, Table 1 and 3 layout, partial inputs, the
paper's published numbers with the differences beside ours, means over seeds with intervals, and the
cross-dataset matrix."""
from __future__ import annotations

import io
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from pipeline.tables.cli import build_tables
from pipeline.tables.crossdata import table2, table_cross
from pipeline.tables.generalization import table1, table3, table_b6
from pipeline.tables.lookup import Metrics
from pipeline.tables.paper import PAPER_METRICS, load_paper
from pipeline.tables.perturbation import table4
from pipeline.tables.render import to_csv, to_latex, to_markdown, write_tables

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
                                       "table_dfdc", "table_cross"}
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


def test_metrics_without_testset_column_default_to_the_training_dataset(tmp_path):
    path = tmp_path / "metrics.csv"
    rows = [tidy_row("xception", "all", "real", 0.9), tidy_row("xception", "all", "Deepfakes", 0.7),
            tidy_row("r3d_18", "all", "fake", 0.6, dataset="dfdc")]
    pd.DataFrame(rows).drop(columns=["testset", "pretrained"]).to_csv(path, index=False)
    metrics = Metrics(str(path))
    assert list(metrics.df["testset"]) == list(metrics.df["dataset"])
    assert metrics.get("xception", "ffpp", "all", "ffpp", "overall") == pytest.approx(0.8)
    assert metrics.get("r3d_18", "dfdc", "all", "dfdc", "fake") == pytest.approx(0.6)
    assert metrics.df["pretrained"].isna().all()
    assert "80.00" in to_markdown(table1(metrics))


def test_accuracies_in_per_cent_are_read_as_fractions(tmp_path):
    fractions = paper_b6_metrics()
    percent = fractions.assign(value=fractions["value"] * 100)  # Table B.6 as printed, 0.00 and 1.43 included
    path = tmp_path / "percent.csv"
    percent.to_csv(path, index=False)
    from_percent, from_fractions = Metrics(str(path)).df, Metrics(fractions).df
    assert from_percent["value"].to_numpy() == pytest.approx(from_fractions["value"].to_numpy())
    pd.testing.assert_frame_equal(table_b6(Metrics(str(path))).frame, table_b6(Metrics(fractions)).frame)
    # the unit is the file's: its AUCs are per cent too; log-losses are never rescaled
    percent_auc = pd.DataFrame([tidy_row("r3d_18", "all", "real", 95.0), tidy_row("r3d_18", "all", "all", 0.3,
                                                                                 metric="logloss"),
                                tidy_row("r3d_18", "all", "all", 90.0, metric="auc")])
    df = Metrics(percent_auc).df.set_index(["class", "metric"])["value"]
    assert df[("real", "accuracy")] == pytest.approx(0.95) and df[("all", "logloss")] == pytest.approx(0.3)
    assert df[("all", "auc")] == pytest.approx(0.9)
    # a file whose values are all <= 1 is fractions
    assert Metrics(pd.DataFrame([tidy_row("r3d_18", "all", "real", 1.0)])).get(
        "r3d_18", "ffpp", "all", "ffpp", "real") == 1.0


@pytest.mark.parametrize("text, message", [
    ("model,dataset,condition,class,metric\nm,ffpp,all,real,accuracy\n", r"lacks column value \("),
    ("model,condition,testset,class,metric,value\nm,all,ffpp,real,accuracy,0.5\n", r"lacks column dataset \("),
    ("model,dataset,condition,testset,class,metric,value\nm,ffpp,all,ffpp,real,accuracy,high\n",
     r"column value: 1 entry is not a number \(first at line 2: 'high'\)"),
    ("model,dataset,condition,testset,class,metric,value\nm,ffpp,all,ffpp,real,accuracy,150\n",
     r"column value, line 2 \(model=m .*\): accuracy 150 is outside \[0, 100\] \(the file's unit: per cent"),
    ("", "empty file"),
])
def test_unusable_metrics_file_is_one_line_naming_file_and_column(text, message, tmp_path, capsys):
    from pipeline.__main__ import main

    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        Metrics(str(path))
    assert main(["tables", "--metrics", str(path), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"pipeline tables: error: {path}: "), err
    assert not (tmp_path / "t").exists()



# ---- the unit of a file, numbers out of range, repeated keys -------------------------------------------------

HEADER = "model,dataset,condition,testset,seed,class,metric,value"
XCEPTION = "xception,ffpp,all,ffpp,0"


def tables_cli(tmp_path, capsys, lines: list[str], *flags: str, header: str = HEADER) -> tuple[int, list[str]]:
    """`tables` on a CSV of `lines`: its exit status and stderr lines (no tables written when it fails)."""
    from pipeline.__main__ import main

    path = tmp_path / "metrics.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    out = tmp_path / "tables"
    shutil.rmtree(out, ignore_errors=True)  # from an earlier call
    status = main(["tables", "--metrics", str(path), "--out", str(out), "--paper", "none", *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 0 or not out.exists()
    return status, err


@pytest.mark.parametrize("lines, message", [
    ([f"{XCEPTION},real,accuracy,0.9", f"{XCEPTION},Deepfakes,accuracy,1.5", f"{XCEPTION},FaceSwap,accuracy,1"],
     "line 3 (model=xception dataset=ffpp condition=all testset=ffpp seed=0 class=Deepfakes metric=accuracy): "
     "accuracy 1.5 is outside [0, 1] (the file's unit: fractions, as line 2 holds 0.9, between 0 and 1"),
    ([f"{XCEPTION},all,auc,0.9", "r3d_18,ffpp,all,ffpp,0,all,auc,7"],
     "line 3 (model=r3d_18 dataset=ffpp condition=all testset=ffpp seed=0 class=all metric=auc): auc 7 is "
     "outside [0, 1]"),
    ([f"{XCEPTION},all,eer,0.2", "r3d_18,ffpp,all,ffpp,0,all,eer,1.2"], "line 3 (model=r3d_18 "),
    ([f"{XCEPTION},all,auc,0.9", f"{XCEPTION},all,logloss,-0.3"],
     "line 3 (model=xception dataset=ffpp condition=all testset=ffpp seed=0 class=all metric=logloss): logloss "
     "-0.3 is not a finite number >= 0"),
    ([f"{XCEPTION},all,logloss,0.3", "r3d_18,dfdc,all,dfdc_perturb,0,real,logloss:flip1,-1"],
     "line 3 (model=r3d_18 dataset=dfdc condition=all testset=dfdc_perturb seed=0 class=real "
     "metric=logloss:flip1): logloss:flip1 -1 is not a finite number >= 0"),
    ([f"{XCEPTION},all,logloss,inf"], "line 2 (model=xception "),
    ([f"{XCEPTION},real,accuracy,-0.1"], "line 2 (model=xception "),
    # a mixed file: fractions, then per cent
    ([f"{XCEPTION},real,accuracy,0.95", f"{XCEPTION},Deepfakes,accuracy,0.9", "r3d_18,ffpp,all,ffpp,0,real,"
      "accuracy,93", "r3d_18,ffpp,all,ffpp,0,Deepfakes,accuracy,97.5"],
     "line 4 (model=r3d_18 dataset=ffpp condition=all testset=ffpp seed=0 class=real metric=accuracy): accuracy "
     "93 is outside [0, 1] (the file's unit: fractions, as line 2 holds 0.95"),
    # in per cent (values above 1, none between 0 and 1): the bound is 100
    ([f"{XCEPTION},real,accuracy,95", f"{XCEPTION},all,eer,101"], "line 3 (model=xception dataset=ffpp "
     "condition=all testset=ffpp seed=0 class=all metric=eer): eer 101 is outside [0, 100] (the file's unit: "
     "per cent, as values are above 1 and none between 0 and 1)"),
])
def test_a_number_outside_its_range_is_refused_naming_row_and_key(lines, message, tmp_path, capsys):
    status, err = tables_cli(tmp_path, capsys, lines)
    assert status == 2 and len(err) == 1, err
    assert err[0].startswith(f"pipeline tables: error: {tmp_path / 'metrics.csv'}: column value, "), err
    assert message in err[0], err


def test_an_interval_outside_its_range_is_refused(tmp_path, capsys):
    status, err = tables_cli(tmp_path, capsys, [f"{XCEPTION},real,accuracy,0.9,0.8,1.2"],
                             header=f"{HEADER},ci_low,ci_high")
    assert status == 2 and len(err) == 1 and "column ci_high, line 2 (model=xception " in err[0], err


def test_missing_values_stay_allowed(tmp_path, capsys):
    status, err = tables_cli(tmp_path, capsys, [f"{XCEPTION},real,accuracy,0.9", f"{XCEPTION},Deepfakes,accuracy,",
                                                f"{XCEPTION},all,logloss,nan"])
    assert status == 0 and err == []
    assert "90.00" in (tmp_path / "tables" / "table_b6.md").read_text()


def test_two_numbers_for_one_key_are_refused(tmp_path, capsys):
    status, err = tables_cli(tmp_path, capsys, [f"{XCEPTION},real,accuracy,0.9", f"{XCEPTION},Deepfakes,accuracy,0.8",
                                                f"{XCEPTION},real,accuracy,0.7"])
    assert status == 2 and len(err) == 1, err
    assert err[0] == (f"pipeline tables: error: {tmp_path / 'metrics.csv'}: line 4 repeats line 2 (model=xception "
                      "dataset=ffpp condition=all testset=ffpp seed=0 class=real metric=accuracy) with another "
                      "value: 0.7 against 0.9 (one number per key: remove one of the rows)")
    # the same key in another seed is another run, not a repeat
    status, err = tables_cli(tmp_path, capsys, [f"{XCEPTION},real,accuracy,0.9", "xception,ffpp,all,ffpp,1,real,"
                                                "accuracy,0.7"])
    assert status == 0 and err == []


def test_identical_repeated_rows_are_dropped_with_a_warning(tmp_path, capsys):
    rows = [f"{XCEPTION},real,accuracy,0.9", f"{XCEPTION},Deepfakes,accuracy,0.8", f"{XCEPTION},real,accuracy,0.9",
            f"{XCEPTION},Deepfakes,accuracy,0.8"]
    status, err = tables_cli(tmp_path, capsys, rows)
    assert status == 0 and len(err) == 1, err
    assert err[0] == (f"warning: {tmp_path / 'metrics.csv'}: 2 rows repeating an earlier identical row dropped "
                      "(first: line 4 = line 2, model=xception dataset=ffpp condition=all testset=ffpp seed=0 "
                      "class=real metric=accuracy)")
    metrics = Metrics(str(tmp_path / "metrics.csv"))
    assert len(metrics.df[metrics.df["class"] == "real"]) == 1
    assert metrics.get("xception", "ffpp", "all", "ffpp", "overall") == pytest.approx(0.85)


def test_unit_column_and_flag_decide_the_unit_of_the_whole_file(tmp_path, capsys):
    """0.71 beside 28.57 cannot be told apart by the auto rule: a per-cent file that holds it says its unit."""
    percent = [f"{XCEPTION},Deepfakes,accuracy,0.71", f"{XCEPTION},real,accuracy,28.57"]
    status, err = tables_cli(tmp_path, capsys, percent)
    assert status == 2 and "accuracy 28.57 is outside [0, 1] (the file's unit: fractions, as line 2 holds 0.71" in \
        err[0] and "--unit percent" in err[0], err
    for lines, flags, header in ((percent, ["--unit", "percent"], HEADER),
                                 ([f"{row},percent" for row in percent], [], f"{HEADER},unit"),
                                 ([f"{row},percent" for row in percent], ["--unit", "percent"], f"{HEADER},unit")):
        status, err = tables_cli(tmp_path, capsys, lines, *flags, header=header)
        assert status == 0 and err == [], (flags, header, err)
        metrics = Metrics(str(tmp_path / "metrics.csv"), *flags[1:])
        assert metrics.get("xception", "ffpp", "all", "ffpp", "Deepfakes") == pytest.approx(0.0071)
        assert metrics.get("xception", "ffpp", "all", "ffpp", "real") == pytest.approx(0.2857)
    # fractions said explicitly: values above 1 are refused, not taken as per cent
    status, err = tables_cli(tmp_path, capsys, [f"{XCEPTION},real,accuracy,95"], "--unit", "fraction")
    assert status == 2 and "accuracy 95 is outside [0, 1] (the file's unit: fractions, as asked)" in err[0], err
    status, err = tables_cli(tmp_path, capsys, [f"{XCEPTION},real,accuracy,95,fraction"], header=f"{HEADER},unit")
    assert status == 2 and "(the file's unit: fractions, from its unit column)" in err[0], err
    for lines, flags, message in (
            ([f"{XCEPTION},real,accuracy,0.9,fraction"], ["--unit", "percent"],
             "its unit column says fraction, but percent was asked for"),
            ([f"{XCEPTION},real,accuracy,0.9,fraction", f"{XCEPTION},Deepfakes,accuracy,80,percent"], [],
             "column unit, line 3: percent differs from fraction above (one unit for the whole file)"),
            ([f"{XCEPTION},real,accuracy,0.9,%"], [], "column unit, line 2: '%' is not fraction or percent"),
            ([f"{XCEPTION},real,accuracy,0.9,"], [], "column unit, line 2: '' is not fraction or percent")):
        status, err = tables_cli(tmp_path, capsys, lines, *flags, header=f"{HEADER},unit")
        assert status == 2 and len(err) == 1 and err[0] == (
            f"pipeline tables: error: {tmp_path / 'metrics.csv'}: {message}"), err


def test_the_shipped_paper_file_is_fractions(capsys):
    """The paper's numbers are stored as fractions (pipeline/tables/paper.py): auto reads them so, and
    saying it changes nothing."""
    raw = pd.read_csv(PAPER_METRICS)
    bounded = raw[raw["metric"].isin(["accuracy", "auc", "eer"])]["value"]
    assert len(bounded) and bounded.between(0, 1).all() and "unit" not in raw.columns
    pd.testing.assert_frame_equal(Metrics(str(PAPER_METRICS)).df, Metrics(str(PAPER_METRICS), "fraction").df)
    assert capsys.readouterr().err == ""  # no repeated rows to warn about

# ---- the paper's published numbers beside ours (pipeline/tables/paper_metrics.csv) --------------------

# Table B.6, I3D-RGB, with the five cells the paper's text garbles rebuilt (see pipeline/tables/paper.py).
B6_I3D = ([
    (97.86, 98.57, 94.29, 95.00, 96.43, 80.71, 96.43, 88.57, None),
    (77.86, 97.86, 96.43, 97.86, 95.71, 70.00, 93.14, 81.57, -7.00),
    (100.00, 87.86, 96.43, 95.71, 97.14, 80.71, 95.43, 88.07, -0.50),
    (99.29, 97.86, 12.86, 97.86, 95.71, 83.57, 80.71, 82.14, -6.43),
    (97.14, 97.86, 95.00, 71.43, 96.43, 86.43, 91.57, 89.00, 0.43),
    (97.86, 98.57, 95.00, 97.14, 63.57, 80.00, 90.43, 85.21, -3.36),
], -3.37)
# Table 1 as printed: DF F2F FS NT FShi overall | DF F2F FS NT FShi left out | mean drop ("RNN" = biGRU).
TABLE1 = {
    "Xception": (99.29, 97.86, 97.86, 95.71, 95.71, 98.64, 21.43, 12.14, 0.00, 0.00, 1.43, -10.28),
    "EfficientNet-B3": (97.86, 94.29, 98.57, 97.86, 96.43, 98.50, 15.71, 7.14, 0.00, 0.00, 15.00, -10.49),
    "EffB3+biGRU": (100, 100, 100, 98.57, 98.57, 98.29, 71.43, 35.00, 4.29, 7.86, 26.43, -6.99),
    "R3D-18": (97.86, 97.86, 99.29, 99.29, 95.71, 95.79, 62.14, 75.00, 5.00, 57.14, 56.43, -4.90),
    "I3D-RGB": (97.86, 98.57, 94.29, 95.00, 96.43, 88.57, 77.86, 87.86, 12.86, 71.43, 63.57, -3.37),
}
# Table 3 as printed: DF F2F FS NT FShi and the two group averages of each half.
TABLE3 = {
    "architecture": {"Xception": (2.14, 28.57, 0.71, 0, 0.71, 14.64, 0.95),
                     "EfficientNet-B3": (2.14, 32.14, 2.86, 0, 0, 17.50, 0.71),
                     "EffB3+biGRU": (10.00, 26.43, 2.14, 2.14, 0, 14.29, 4.05),
                     "R3D-18": (2.14, 75.71, 0.71, 0.71, 17.86, 38.21, 6.67),
                     "I3D-RGB": (14.29, 85.71, 18.57, 36.43, 17.14, 52.14, 22.62)},
    "task": {"Xception": (30.71, 7.14, 0.71, 6.43, 4.29, 11.90, 6.79),
             "EfficientNet-B3": (40.71, 6.43, 0, 5, 1.43, 14.05, 5.71),
             "EffB3+biGRU": (41.43, 9.29, 0, 3.57, 5.71, 15.71, 6.43),
             "R3D-18": (42.14, 36.43, 5, 40.71, 16.43, 21.19, 38.57),
             "I3D-RGB": (67.14, 33.57, 12.86, 32.86, 42.86, 40.95, 33.21)},
}
TABLE2 = {"Xception": 24.28, "EfficientNet-B3": 16.43, "EffB3+biGRU": 18.57, "R3D-18": 56.43, "I3D-RGB": 78.57}
TABLE4 = {("EffB3+LSTM", "real"): (0.15, 0.15, 0.15, 0.15, 0.14, 0.14),
          ("EffB3+LSTM", "fake"): (0.36, 0.38, 0.38, 0.42, 0.48, 0.39),
          ("R3D-18", "real"): (0.32, 0.33, 0.41, 0.58, 1.66, 0.65),
          ("R3D-18", "fake"): (0.48, 0.46, 0.35, 0.25, 0.16, 0.25)}
NAMES = {"xception": "Xception", "efficientnet_b3": "EfficientNet-B3", "efficientnet_b3_bigru": "EffB3+biGRU",
         "r3d_18": "R3D-18", "i3d_rgb": "I3D-RGB"}


def test_paper_file_holds_the_printed_tables():
    """The shipped numbers are the paper's: Table B.6 in full (its Fake, avg, drop and mean drop follow from
    the per-class cells), and Tables 1, 2, 3 and 4 come out as printed."""
    paper = load_paper(None)
    raw = pd.read_csv(PAPER_METRICS)
    assert list(raw.columns) == ["model", "dataset", "condition", "testset", "class", "metric", "value",
                                 "pretrained"]
    assert raw["pretrained"].all() and not raw.duplicated(["model", "dataset", "condition", "testset", "class",
                                                           "metric"]).any()
    b6 = table_b6(paper).frame
    for model, (runs, mean_drop) in {**B6, "i3d_rgb": B6_I3D}.items():
        for condition, run in zip(CONDITIONS, runs, strict=True):
            row = b6.loc[(NAMES[model], condition)]
            assert [row[c] for c in ("DF", "F2F", "FS", "NT", "FShi", "Real", "Fake", "avg")] == pytest.approx(
                run[:8], abs=1e-9), (model, condition)
            per_method = [row[c] for c in ("DF", "F2F", "FS", "NT", "FShi")]
            assert sum(per_method) / 5 == pytest.approx(row["Fake"], abs=0.011), (model, condition)
            assert (row["Real"] + row["Fake"]) / 2 == pytest.approx(row["avg"], abs=0.011), (model, condition)
            if run[8] is not None:
                assert row["drop"] == pytest.approx(run[8], abs=0.011), (model, condition)
        assert b6.loc[(NAMES[model], "mean drop"), "drop"] == pytest.approx(mean_drop, abs=0.011), model
    t1 = table1(paper).frame
    assert list(t1.index) == list(TABLE1)
    for name, values in TABLE1.items():
        assert list(t1.loc[name]) == pytest.approx(values, abs=0.011), name
    t3 = table3(paper).frame
    for half, rows in TABLE3.items():
        for name, values in rows.items():
            row = t3.loc[(half, name)].dropna()
            assert list(row[:5]) == pytest.approx(values[:5], abs=1e-9), (half, name)
            printed = values[5:]
            if (half, name) == ("architecture", "R3D-18"):  # printed 6.67; its printed cells average to 6.90
                printed = (printed[0], 6.90)
            assert list(row[5:]) == pytest.approx(printed, abs=0.011), (half, name)
    t2 = table2(paper).frame
    assert dict(t2["DeeperForensics"]) == pytest.approx(TABLE2, abs=1e-9)
    t4 = table4(paper).frame
    assert set(t4.index) == set(TABLE4)
    for key, values in TABLE4.items():
        assert list(t4.loc[key]) == pytest.approx(values, abs=1e-9), key


def test_tables_of_the_paper_against_the_paper_differ_by_zero(tmp_path):
    from pipeline.__main__ import main

    out = tmp_path / "tables"
    assert main(["tables", "--metrics", str(PAPER_METRICS), "--out", str(out)]) == 0  # --paper: the shipped file
    compared = {"table1", "table_b6", "table2", "table3", "table4"}
    for table in build_tables(load_paper(None), load_paper(None)):
        if table.name not in compared:  # beyond the paper: nothing to compare
            assert table.paper is None, table.name
            continue
        diff = (table.frame - table.paper).to_numpy()
        assert (diff[~np.isnan(diff)] == 0).all() and (~np.isnan(diff)).sum() > 0, table.name
        csv = pd.read_csv(out / f"{table.name}.csv")
        diffs = csv[[c for c in csv.columns if c.endswith(" diff")]].to_numpy(dtype=float)
        assert diffs.size and (np.nan_to_num(diffs) == 0).all(), table.name
        assert [c for c in csv.columns if not c.endswith((" paper", " diff"))] == [
            *table.frame.index.names, *table.frame.columns]
        md = (out / f"{table.name}.md").read_text()
        delta_rows = [line for line in md.splitlines() if "| Δ " in line]
        assert delta_rows and all(set(cell.strip() for cell in line.split("|")[1:-1]) <= {"", "Δ", "0.00", "–"}
                                  for line in delta_rows), table.name
        assert "| paper " in md and "Δ = ours − paper" in md
        tex = (out / f"{table.name}.tex").read_text()
        assert " diff " in tex and "Δ" not in tex and r"$\Delta$ = ours - paper" in tex


def test_paper_values_and_differences_beside_partial_results(tmp_path):
    rows = [tidy_row("r3d_18", "all", "real", 0.90), tidy_row("r3d_18", "all", "Deepfakes", 0.80)]
    tables = {t.name: t for t in build_tables(Metrics(pd.DataFrame(rows)), load_paper(None))}
    t1 = tables["table1"]
    assert list(t1.frame.index) == ["R3D-18", "Xception", "EfficientNet-B3", "EffB3+biGRU", "I3D-RGB"]
    assert t1.frame.loc["R3D-18", "DF"] == pytest.approx(80.0) and t1.paper.loc["R3D-18", "DF"] == 97.86
    assert math.isnan(t1.frame.loc["Xception", "DF"]) and t1.paper.loc["Xception", "DF"] == 99.29
    md = to_markdown(t1)
    r3d = md.splitlines()[4:7]
    assert r3d[0].startswith("| R3D-18 ") and "| ours " in r3d[0] and " 80.00 |" in r3d[0]
    assert "| paper " in r3d[1] and " 97.86 |" in r3d[1] and "| Δ " in r3d[2] and " -17.86 |" in r3d[2]
    assert "| Xception " in md and "| ours  |      – |" in md  # a model only the paper has: ours missing
    csv = pd.read_csv(io.StringIO(to_csv(t1))).set_index("model")
    assert csv.loc["R3D-18", ["DF", "DF paper", "DF diff"]].tolist() == pytest.approx([80.0, 97.86, -17.86])
    assert math.isnan(csv.loc["Xception", "DF diff"])
    assert tables["table_dfdc"].paper is None and "| ours" not in to_markdown(tables["table_dfdc"])


def test_paper_none_leaves_the_paper_out(tmp_path):
    from pipeline.__main__ import main

    path = tmp_path / "metrics.csv"
    pd.DataFrame([tidy_row("r3d_18", "all", "real", 0.9)]).to_csv(path, index=False)
    assert main(["tables", "--metrics", str(path), "--paper", "none", "--out", str(tmp_path / "plain")]) == 0
    assert main(["tables", "--metrics", str(path), "--out", str(tmp_path / "with")]) == 0
    plain, with_paper = ((tmp_path / d / "table1.md").read_text() for d in ("plain", "with"))
    assert "paper" not in plain and "| ours " not in plain and "| paper " in with_paper
    assert list(pd.read_csv(tmp_path / "plain" / "table1.csv").columns)[:3] == ["model", "DF", "F2F"]


# ---- several training seeds, bootstrap intervals, the cross-dataset matrix ------------------------------------


def seeded_row(seed, condition, cls, value, low=math.nan, high=math.nan, testset="ffpp", metric="accuracy",
               dataset="ffpp", model="r3d_18"):
    return {**tidy_row(model, condition, cls, value, testset, metric, dataset), "seed": seed, "ci_low": low,
            "ci_high": high}


def test_mean_std_and_intervals_over_seeds_agree_with_numpy(tmp_path):
    """Three seeds of r3d_18 (all and wo_DF on FF++, all on Celeb-DF): every cell is the mean over seeds, its
    std the sample std (n - 1), its interval the mean of the seeds' bounds; derived cells (drops) are computed
    within each seed and get no interval."""
    seeds = [0, 1, 2]
    real, df_all, df_wo = np.array([0.9, 0.8, 0.7]), np.array([0.6, 0.8, 0.9]), np.array([0.2, 0.5, 0.3])
    low, high = df_all - 0.1, df_all + 0.05
    auc = np.array([0.55, 0.65, 0.7])
    rows = []
    for k, seed in enumerate(seeds):
        rows += [seeded_row(seed, "all", "real", real[k]),
                 seeded_row(seed, "all", "Deepfakes", df_all[k], low[k], high[k]),
                 seeded_row(seed, "wo_DF", "real", real[k]), seeded_row(seed, "wo_DF", "Deepfakes", df_wo[k]),
                 seeded_row(seed, "all", "all", auc[k], auc[k] - 0.2, auc[k] + 0.1, testset="celebdf", metric="auc")]
    path = tmp_path / "metrics.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    metrics = Metrics(str(path))
    assert metrics.seeds == seeds
    tables = {t.name: t for t in build_tables(metrics)}

    t1 = tables["table1"]
    assert t1.frame.loc["R3D-18", "DF"] == pytest.approx(100 * df_all.mean())
    assert t1.std.loc["R3D-18", "DF"] == pytest.approx(100 * df_all.std(ddof=1))
    assert (t1.ci_low.loc["R3D-18", "DF"], t1.ci_high.loc["R3D-18", "DF"]) == pytest.approx(
        (100 * low.mean(), 100 * high.mean()))
    overall_all, overall_wo = (real + df_all) / 2, (real + df_wo) / 2
    drops = 100 * (overall_wo - overall_all)
    assert t1.frame.loc["R3D-18", "mean drop"] == pytest.approx(drops.mean())
    assert t1.std.loc["R3D-18", "mean drop"] == pytest.approx(drops.std(ddof=1))
    assert math.isnan(t1.ci_low.loc["R3D-18", "mean drop"])
    b6 = tables["table_b6"]
    assert b6.frame.loc[("R3D-18", "wo_DF"), "drop"] == pytest.approx(drops.mean())
    assert b6.std.loc[("R3D-18", "wo_DF"), "drop"] == pytest.approx(drops.std(ddof=1))

    md = to_markdown(t1)
    assert f"{100 * df_all.mean():.2f} ± {100 * df_all.std(ddof=1):.2f}" in md and "seeds 0, 1, 2" in md
    assert r"$\pm$" in to_latex(t1) and "±" not in to_latex(t1)
    csv = pd.read_csv(io.StringIO(to_csv(t1))).set_index("model")
    assert csv.loc["R3D-18", ["DF", "DF std", "DF ci_low", "DF ci_high"]].tolist() == pytest.approx(
        [100 * df_all.mean(), 100 * df_all.std(ddof=1), 100 * low.mean(), 100 * high.mean()])
    assert "mean drop std" in csv.columns and "mean drop ci_low" not in csv.columns

    celebdf = tables["table_celebdf"]
    assert celebdf.frame.loc["R3D-18", "AUC"] == pytest.approx(100 * auc.mean())
    assert celebdf.std.loc["R3D-18", "AUC"] == pytest.approx(100 * auc.std(ddof=1))
    assert celebdf.ci_low.loc["R3D-18", "AUC"] == pytest.approx(100 * (auc - 0.2).mean())
    cross = tables["table_cross"]
    assert cross.frame.loc[("R3D-18", "FF++"), "Celeb-DF"] == pytest.approx(100 * auc.mean())
    assert cross.ci_high.loc[("R3D-18", "FF++"), "Celeb-DF"] == pytest.approx(100 * (auc + 0.1).mean())


def test_a_cell_of_one_seed_has_no_spread():
    rows = [seeded_row(0, "all", "real", 0.9), seeded_row(0, "all", "Deepfakes", 0.8),
            seeded_row(1, "all", "real", 0.7)]
    t1 = {t.name: t for t in build_tables(Metrics(pd.DataFrame(rows)))}["table1"]
    assert t1.frame.loc["R3D-18", "DF"] == pytest.approx(80.0) and math.isnan(t1.std.loc["R3D-18", "DF"])
    assert "80.00 |" in to_markdown(t1) and "80.00 ±" not in to_markdown(t1)
    single = {t.name: t for t in build_tables(Metrics(paper_b6_metrics()))}["table1"]
    assert single.std is None and single.ci_low is None and "±" not in to_markdown(single)
    assert not any(c.endswith((" std", " ci_low")) for c in pd.read_csv(io.StringIO(to_csv(single))).columns)


def test_cross_dataset_matrix_rows_are_model_and_training_set():
    rows = [seeded_row(0, "all", "all", v, metric="auc", dataset=d, testset=t, model=m)
            for m, d, t, v in [("xception", "ffpp", "ffpp", 0.9), ("xception", "ffpp", "dfd", 0.6),
                               ("xception", "dfdc", "ffpp", 0.55), ("r3d_18", "ffpp", "dfdc", 0.7),
                               ("r3d_18", "ffpp", "ffpp", 0.8)]]
    rows.append(seeded_row(0, "wo_DF", "all", 0.1, metric="auc", model="i3d_rgb"))  # not an `all` model
    rows.append(seeded_row(0, "all", "real", 0.3, metric="logloss:flip1", dataset="dfdc", testset="dfdc_perturb",
                           model="i3d_rgb"))
    frame = table_cross(Metrics(pd.DataFrame(rows))).frame
    assert list(frame.index) == [("Xception", "FF++"), ("Xception", "DFDC"), ("R3D-18", "FF++")]
    assert list(frame.columns) == ["FF++", "DFDC", "DeeperForensics", "Celeb-DF", "DFD"]
    assert frame.loc[("Xception", "FF++"), "DFD"] == pytest.approx(60.0)
    assert frame.loc[("Xception", "DFDC"), "FF++"] == pytest.approx(55.0)
    assert frame.loc[("R3D-18", "FF++"), "DFDC"] == pytest.approx(70.0)
    assert math.isnan(frame.loc[("R3D-18", "FF++"), "DFD"])


def test_footnotes_name_the_arithmetic_and_say_when_runs_mixed_it():
    rows = [{"model": m, "dataset": "ffpp", "condition": "all", "testset": "ffpp", "class": "real",
             "metric": "accuracy", "value": 0.9, "pretrained": False, "arithmetic": a}
            for m, a in (("xception", "bf16"), ("r3d_18", "float32"), ("i3d_rgb", "float32"))]
    mixed = table1(Metrics(pd.DataFrame(rows))).notes[0]
    assert mixed.endswith("Runs mixed arithmetic: bf16 (Xception); float32 (R3D-18, I3D-RGB).")
    for row in rows:
        row["arithmetic"] = "float32"
    assert table1(Metrics(pd.DataFrame(rows))).notes[0].endswith("Arithmetic: float32.")
