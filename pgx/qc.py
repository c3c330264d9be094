"""Batch QC report: one self-contained HTML page per batch, for lab staff.

Answers "did this batch work, and where should I look?" from the batch's Parquet tables
(``calls``, ``genotypes``, ``recommendations``, ``provenance``): call rate and ambiguity per
gene, phenotype distribution per gene, the samples with the most missing positions,
variants no known allele contains, calls counted by reason code and, given a sample ->
population mapping, the same rates (and phenotypes) per population.

HTML rather than PDF because lab staff browse it: long tables stay searchable and
copyable, and the file opens anywhere. Plots are matplotlib PNGs inlined as base64, so the
page is one file. Colours are the patient PDF's (``pgx.palette``), and so is the font.

Safety and reproducibility: every text that comes from data (sample IDs, phenotypes,
warnings) is HTML-escaped, and matplotlib's mathtext is off so a ``$`` in a sample ID is
drawn as itself. Figures have fixed sizes (growing only with the number of rows they
show), PNGs carry no software or time metadata, and the page holds no clock time, so the
same tables give the same bytes. The page is written to a temporary name and renamed.
"""

from __future__ import annotations

import base64
import html
import io
import os
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.colors
import matplotlib.patches
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from pgx import __version__
from pgx.outputs import atomic_path, read_table
from pgx.palette import ACCENT, AMBER, BLUE, GREEN, HEAD_BG, INK, MUTED, ORANGE, RED, RULE
from pgx.qc_summary import (
    CARRIERS_SHOWN,
    CATEGORY_ORDER,
    NO_POPULATION,
    TOP_TABLE,
    CallSummary,
    normalise_populations,
    status_counts,
    summarise_calls,
)
from pgx.qc_summary import natural as _natural

__all__ = ["SECTIONS", "render_qc_report"]

#: section id -> heading, in page order; the populations section appears only with a mapping
SECTIONS: dict[str, str] = {
    "call-rates": "Call rate and ambiguity per gene",
    "phenotypes": "Phenotype distribution per gene",
    "missing": "Samples with the most missing positions",
    "novel": "Novel variants",
    "warnings": "Reasons and warnings",
    "populations": "Per population",
}

#: rows shown in the bars of the per-sample / per-variant sections (TOP_TABLE rows in their tables)
TOP_PLOT = 20

GENE_COLOURS = ("#1F5FA8", "#C25100", "#2E7D32", "#7B5EA7", "#B3261E", "#00838F", "#7A5A00", "#5F6368")

#: phenotype categories: key, legend label, colour; in the order of the stacked bars
_CATEGORY_STYLE = {
    "poor": ("Poor / no function / high risk", RED),
    "intermediate": ("Intermediate / decreased", "#E07B00"),
    "normal": ("Normal", GREEN),
    "rapid": ("Rapid / increased", "#6C9BD2"),
    "ultrarapid": ("Ultrarapid", "#1F3A8A"),
    "other": ("Other result", "#7B5EA7"),
    "indeterminate": ("Indeterminate / uncertain", "#C5C9CE"),
    "no_phenotype": ("Called; the guidelines define no phenotype", "#E8E3D3"),
    "no_call": ("No call", "#3C4043"),
}
CATEGORIES: tuple[tuple[str, str, str], ...] = tuple((key, *_CATEGORY_STYLE[key]) for key in CATEGORY_ORDER)
_CATEGORY_COLOUR = {key: colour for key, _, colour in CATEGORIES}

_PLOT_STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "text.parse_math": False,  # a "$" in a sample ID is text, not mathtext
    "text.color": INK,
    "axes.edgecolor": RULE,
    "axes.labelcolor": INK,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlecolor": ACCENT,
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.axisbelow": True,
    "axes.grid": False,
    "grid.color": HEAD_BG,
    "xtick.color": MUTED,
    "ytick.color": INK,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "svg.hashsalt": "pgx",
}
_DPI = 110


# --- plots ------------------------------------------------------------------------------


def _figure(width: float, height: float, **kw) -> Figure:
    return Figure(figsize=(width, height), layout="constrained", **kw)


def _png(fig: Figure) -> str:
    """The figure as base64 PNG, without metadata (so the bytes depend only on the plot)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None}, facecolor="white")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _pct(x: float) -> str:
    """A share as a percentage, with two decimals near 0% and 100% so that 3 of 3,202
    does not print as 0.1% or 100%."""
    if x == 0 or x == 1:
        return f"{100 * x:.0f}%"
    return f"{100 * x:.2f}%" if (x < 0.01 or x > 0.99) else f"{100 * x:.1f}%"


def _shorten(text: str, width: int = 36) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _plot_call_rates(rates: pd.DataFrame) -> str:
    genes = list(rates["gene"])[::-1]
    r = rates.set_index("gene").loc[genes]
    y = np.arange(len(genes))
    fig = _figure(9.6, 1.2 + 0.32 * len(genes))
    left, right = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1, 1.25]})
    left.barh(y, r["call_rate"], color=GREEN, height=0.62)
    for yi, v in zip(y, r["call_rate"]):
        left.text(min(v, 1.0) - 0.01, yi, _pct(v), va="center", ha="right", color="white", fontsize=7.5, fontweight="bold")
    left.set_xlim(0, 1)
    left.set_yticks(y, genes)
    left.set_title("Call rate (called or ambiguous)")
    left.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    left.grid(axis="x")
    metrics = [
        ("ambiguity_rate", "ambiguous", ORANGE),
        ("no_call_rate", "no call", RED),
        ("novel_variant_rate", "with novel variants", "#7B5EA7"),
    ]
    h = 0.26
    top = max(float(r[[m for m, _, _ in metrics]].to_numpy().max()), 0.0)
    limit = max(top * 1.3, 0.01)
    for i, (col, label, colour) in enumerate(metrics):
        pos = y + (1 - i) * h
        right.barh(pos, r[col], height=h, color=colour, label=label)
        for yi, v in zip(pos, r[col]):
            if v > 0:
                right.text(v + limit * 0.01, yi, _pct(v), va="center", fontsize=6.5, color=MUTED)
    right.set_xlim(0, limit)
    right.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=None))  # decimals as the ticks need
    right.set_title("Ambiguous, no call, with novel variants")
    right.grid(axis="x")
    fig.legend(loc="outside lower right", ncols=3, fontsize=7.5)
    return _png(fig)


def _phenotype_colours(counts: pd.DataFrame) -> list[str]:
    """A colour per row: its category's, lighter for the 2nd, 3rd ... phenotype of a category."""
    shade = counts.groupby([*[c for c in counts.columns if c in ("gene", "population")], "category"]).cumcount()
    out = []
    for cat, k in zip(counts["category"], shade):
        rgb = np.array(to_rgb(_CATEGORY_COLOUR[cat]))
        mix = min(0.22 * k, 0.66)
        out.append(matplotlib.colors.to_hex(rgb + (1 - rgb) * mix))
    return out


def _stacked(ax, counts: pd.DataFrame, rows: list[str], row_col: str, *, labels: bool = True) -> None:
    """Horizontal 100% stacked bars, one per row label, segments in category order."""
    counts = counts.assign(colour=_phenotype_colours(counts))
    y = {row: i for i, row in enumerate(rows[::-1])}
    left = dict.fromkeys(rows, 0.0)
    for rec in counts.itertuples(index=False):
        row = getattr(rec, row_col)
        if row not in y:
            continue
        ax.barh(y[row], rec.share, left=left[row], color=rec.colour, height=0.7, edgecolor="white", linewidth=0.6)
        if labels and rec.share >= 0.06:
            r, g, b = to_rgb(rec.colour)
            dark = 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.55  # white text only on a dark segment
            ax.text(
                left[row] + rec.share / 2, y[row], f"{100 * rec.share:.0f}%", ha="center", va="center",
                fontsize=6.5, color="white" if dark else INK,
            )  # fmt: skip
        left[row] += rec.share
    ax.set_yticks(list(y.values()), list(y.keys()))
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))


def _category_legend(fig: Figure, categories: Iterable[str]) -> None:
    present = set(categories)
    handles = [matplotlib.patches.Patch(color=colour, label=label) for key, label, colour in CATEGORIES if key in present]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=7.5)


def _plot_phenotypes(counts: pd.DataFrame, genes: list[str]) -> str:
    fig = _figure(9.6, 1.3 + 0.34 * len(genes))
    ax = fig.subplots()
    _stacked(ax, counts, genes, "gene")
    ax.set_title("Phenotypes per gene (share of samples; shades separate phenotypes of one category)")
    _category_legend(fig, counts["category"])
    return _png(fig)


def _plot_missing(missing: pd.DataFrame, genes: list[str]) -> str:
    top = missing.head(TOP_PLOT)
    samples = list(top["sample_id"])[::-1]
    per_gene = pd.DataFrame(list(top["per_gene"])[::-1], index=samples).reindex(columns=genes).fillna(0)
    per_gene = per_gene.loc[:, per_gene.sum() > 0]
    fig = _figure(9.6, 1.1 + 0.24 * len(samples))
    ax = fig.subplots()
    left = np.zeros(len(samples))
    colours = _gene_colours(per_gene.columns, genes)
    for gene, colour in zip(per_gene.columns, colours):
        ax.barh(range(len(samples)), per_gene[gene], left=left, height=0.6, color=colour, label=gene)
        left += per_gene[gene].to_numpy()
    ax.set_yticks(range(len(samples)), [_shorten(s, 40) for s in samples])
    ax.set_xlabel("missing KB positions")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.grid(axis="x")
    ax.set_title(f"Samples with the most missing positions (top {len(samples)}), by gene")
    fig.legend(loc="outside lower right", ncols=min(len(colours), 6), fontsize=7.5)
    return _png(fig)


def _plot_counts(labels: list[str], values: list[int], colours: list[str], title: str, xlabel: str, *, wrap: int = 60) -> str:
    labels = [textwrap.fill(label, wrap) for label in labels][::-1]
    values = values[::-1]
    colours = colours[::-1]
    lines = sum(label.count("\n") + 1 for label in labels)
    fig = _figure(9.6, 0.8 + 0.2 * lines + 0.1 * len(labels))
    ax = fig.subplots()
    ax.barh(range(len(labels)), values, color=colours, height=0.6)
    top = max(values) if values else 1
    for i, v in enumerate(values):
        ax.text(v + top * 0.01, i, f"{v:,}", va="center", fontsize=7, color=MUTED)
    ax.set_xlim(0, top * 1.12)
    ax.set_yticks(range(len(labels)), labels, fontsize=7.5)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.grid(axis="x")
    ax.set_title(title)
    return _png(fig)


def _gene_colours(genes: Iterable[str], all_genes: list[str]) -> list[str]:
    index = {g: i for i, g in enumerate(all_genes)}
    return [GENE_COLOURS[index.get(g, 0) % len(GENE_COLOURS)] for g in genes]


_HEATMAPS = (
    ("call_rate", "Call rate", "Greens", False),
    ("ambiguity_rate", "Ambiguity rate", "Oranges", True),
    ("no_call_rate", "No-call rate", "Reds", True),
    ("novel_variant_rate", "Samples with novel variants", "Purples", True),
)


def _plot_population_rates(rates: pd.DataFrame, pops: list[str], genes: list[str]) -> str:
    wide = len(genes) > 8  # one heatmap per row, so the cells stay readable
    nrows, ncols = (4, 1) if wide else (2, 2)
    fig = _figure(9.6, 0.4 + nrows * (0.65 + 0.27 * len(pops)))
    axes = fig.subplots(nrows, ncols).ravel()
    for ax, (col, title, cmap, zero_is_good) in zip(axes, _HEATMAPS):
        grid = rates.pivot(index="population", columns="gene", values=col).reindex(index=pops, columns=genes)
        values = grid.to_numpy(dtype=float)
        shown = values if zero_is_good else 1 - values  # colour = how far from good
        vmax = max(np.nanmax(shown) if np.isfinite(shown).any() else 0, 0.01)
        ax.imshow(shown, cmap=cmap, vmin=0, vmax=vmax * 1.15, aspect="auto")
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                strong = shown[i, j] > vmax * 0.6
                ax.text(j, i, _pct(v), ha="center", va="center", fontsize=6.5, color="white" if strong else INK)
        ax.set_xticks(range(len(genes)), genes, rotation=30 if len(genes) > 6 else 0, ha="right" if len(genes) > 6 else "center")
        ax.set_yticks(range(len(pops)), [_shorten(p, 24) for p in pops])
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_title(title, fontsize=9)
    return _png(fig)


def _plot_population_phenotypes(counts: pd.DataFrame, pops: list[str], genes: list[str]) -> str:
    ncols = min(3, len(genes))
    nrows = -(-len(genes) // ncols)
    fig = _figure(9.6, 0.9 + nrows * (0.45 + 0.24 * len(pops)))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, gene in zip(axes, genes):
        _stacked(ax, counts[counts["gene"] == gene], pops, "population", labels=len(pops) <= 12)
        ax.set_title(gene, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.tick_params(axis="x", labelsize=6.5)
    for ax in axes[len(genes) :]:
        ax.set_visible(False)
    _category_legend(fig, counts["category"])
    return _png(fig)


# --- HTML --------------------------------------------------------------------------------

_CSS = f"""
body {{ font-family: "DejaVu Sans", Verdana, Helvetica, Arial, sans-serif; color: {INK};
  margin: 0 auto; max-width: 1100px; padding: 24px 28px 48px; font-size: 13.5px; line-height: 1.45; }}
h1 {{ color: {ACCENT}; font-size: 26px; margin: 0 0 4px; }}
h2 {{ color: {ACCENT}; font-size: 18px; margin: 34px 0 8px; padding-bottom: 4px; border-bottom: 2px solid {ACCENT}; }}
h3 {{ color: {ACCENT}; font-size: 14.5px; margin: 18px 0 6px; }}
p.lead {{ color: {MUTED}; margin: 0 0 16px; }}
.meta {{ display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 8px 18px;
  background: #F6F7F8; border: 1px solid {HEAD_BG}; border-radius: 6px; padding: 12px 16px; }}
.meta div span {{ display: block; color: {MUTED}; font-size: 11.5px; }}
.meta div b {{ font-size: 14.5px; overflow-wrap: anywhere; }}
.kpis {{ display: flex; flex-wrap: wrap; gap: 10px; margin: 16px 0 4px; }}
.kpi {{ flex: 1 1 110px; border-left: 5px solid {GREEN}; background: #F6F7F8; padding: 8px 12px; border-radius: 4px; }}
.kpi.warn {{ border-color: {ORANGE}; }} .kpi.bad {{ border-color: {RED}; }}
.kpi b {{ display: block; font-size: 21px; }} .kpi span {{ color: {MUTED}; font-size: 11.5px; }}
nav {{ margin: 14px 0 0; font-size: 12.5px; }} nav a {{ color: {BLUE}; margin-right: 14px; text-decoration: none; }}
figure {{ margin: 10px 0 12px; }} figure img {{ max-width: 100%; height: auto; display: block; }}
figcaption, .note {{ color: {MUTED}; font-size: 12px; }}
table {{ border-collapse: collapse; margin: 8px 0 6px; font-size: 12.5px; }}
th {{ background: {HEAD_BG}; color: {ACCENT}; text-align: left; font-weight: bold; padding: 5px 9px; white-space: nowrap; }}
td {{ border-bottom: 1px solid {HEAD_BG}; padding: 4px 9px; vertical-align: top; }}
td.n, th.n {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
td.id {{ font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; overflow-wrap: anywhere; }}
td.flag, p.flag {{ color: {RED}; font-weight: bold; }}
.sw {{ display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }}
details summary {{ cursor: pointer; color: {BLUE}; margin: 6px 0; }}
footer {{ margin-top: 40px; color: {MUTED}; font-size: 11.5px; border-top: 1px solid {HEAD_BG}; padding-top: 8px; }}
"""


def _e(value: object) -> str:
    """HTML-escaped text of a value ('' for null)."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    return html.escape(str(value), quote=True)


def _table(header: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]]) -> str:
    """An HTML table; ``header`` is (label, css class) and cells arrive already escaped."""
    head = "".join(f'<th class="{cls}">{_e(label)}</th>' for label, cls in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="{cls}">{cell}</td>' for (_, cls), cell in zip(header, row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: str, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{png}">{cap}</figure>'


def _section(key: str, body: str) -> str:
    return f'<section id="{key}"><h2>{_e(SECTIONS[key])}</h2>{body}</section>'


def _n(x: object) -> str:
    return f"{int(x):,}"


def _header(prov: Mapping[str, str], summary: CallSummary, batch: str) -> str:
    n_samples, genes = summary.samples, summary.genes
    fields = [
        ("Batch", batch),
        (
            "Samples",
            f"{n_samples:,}"
            + (f" (provenance: {prov['n_samples']})" if prov.get("n_samples") not in (None, str(n_samples)) else ""),
        ),
        ("Genes", f"{len(genes)}: " + ", ".join(genes)),
        ("Knowledge base", prov.get("kb_version") or ", ".join(summary.kb_versions)),
        ("Pipeline version", prov.get("pipeline_version", "unknown")),
        (
            "Genome build",
            prov.get("genome_build", "unknown")
            + (f" ({prov['genome_build_reason']})" if prov.get("genome_build_reason") else ""),
        ),
        ("Assume reference", prov.get("option:assume_reference", "unknown")),
        ("Report by", f"pgx {__version__} (pgx.qc)"),
    ]
    if prov.get("created"):
        fields.append(("Created", prov["created"]))
    meta = "".join(f"<div><span>{_e(k)}</span><b>{_e(v)}</b></div>" for k, v in fields)
    return f'<header><h1>Batch QC report: {_e(batch)}</h1><p class="lead">Call quality of one pgx batch, from its Parquet tables. Rates are shares of samples.</p><div class="meta">{meta}</div></header>'


def _kpis(summary: CallSummary) -> str:
    status, n = summary.status, max(summary.rows, 1)
    call_rate = (status["called"] + status["ambiguous"]) / n
    items = [
        (_pct(call_rate), "of sample × gene results called", "" if call_rate >= 0.99 else "warn" if call_rate >= 0.95 else "bad"),
        (_pct(status["ambiguous"] / n), "ambiguous (ties listed)", "" if status["ambiguous"] / n < 0.05 else "warn"),
        (_n(status["no_call"]), "no calls", "" if status["no_call"] == 0 else "warn"),
        (_n(summary.samples_with_missing), "samples with missing positions", "" if not summary.samples_with_missing else "warn"),
        (_n(len(summary.novel)), "novel variants", "" if summary.novel.empty else "warn"),
        (_n(summary.with_reason), f"results with a reason ({len(summary.reasons)} reason codes)", ""),
    ]
    boxes = "".join(f'<div class="kpi {cls}"><b>{_e(v)}</b><span>{_e(label)}</span></div>' for v, label, cls in items)
    nav = "".join(f'<a href="#{k}">{_e(v)}</a>' for k, v in SECTIONS.items())
    return f'<div class="kpis">{boxes}</div><nav>{nav}</nav>'


def _call_rate_section(rates: pd.DataFrame, status: pd.DataFrame | None) -> str:
    header = [("Gene", ""), ("Samples", "n"), ("Called", "n"), ("Ambiguous", "n"), ("No call", "n"), ("Outside call", "n"),
              ("Call rate", "n"), ("Ambiguity", "n"), ("With novel variants", "n"), ("With missing positions", "n")]  # fmt: skip
    rows = [
        [_e(r.gene), _n(r.samples), _n(r.called), _n(r.ambiguous), _n(r.no_call), _n(r.outside_call),
         _pct(r.call_rate), _pct(r.ambiguity_rate), _pct(r.novel_variant_rate), _n(r.samples_with_missing)]
        for r in rates.itertuples(index=False)
    ]  # fmt: skip
    body = _img(_plot_call_rates(rates), "call rate and ambiguity per gene",
                "Call rate = called or ambiguous; an ambiguous call lists every tied diplotype. "
                "Outside calls (from other assays) count as neither.") + _table(header, rows)  # fmt: skip
    if status is not None and not status.empty:
        cols = [c for c in ("called", "partial", "missing", "assumed_reference") if c in status.columns]
        total = status[cols].sum(axis=1)
        srows = [[_e(g), _n(total[g]), *(f"{_n(status.at[g, c])} ({_pct(status.at[g, c] / total[g])})" for c in cols)]
                 for g in status.index]  # fmt: skip
        body += "<h3>Genotypes at knowledge-base positions</h3>" + _table(
            [("Gene", ""), ("Genotypes", "n"), *((c.replace("_", " ").capitalize(), "n") for c in cols)], srows
        )
        body += ('<p class="note">One genotype per sample and KB position (genotypes.parquet). Missing: no GT in the '
                 "input or <code>./.</code>; partial: one allele only (treated as missing); assumed reference: absent "
                 "from the input while <code>assume_reference</code> was on.</p>")  # fmt: skip
    return _section("call-rates", body)


def _phenotype_cell(group: pd.DataFrame) -> str:
    colours = _phenotype_colours(group)
    return "<br>".join(
        f'<span class="sw" style="background:{c}"></span>{_e(r.phenotype)}: {_n(r.samples)} ({_pct(r.share)})'
        for c, r in zip(colours, group.itertuples(index=False))
    )


def _phenotype_section(counts: pd.DataFrame, genes: list[str]) -> str:
    rows = [
        [_e(g), _n(counts.loc[counts["gene"] == g, "samples"].sum()), _phenotype_cell(counts[counts["gene"] == g])] for g in genes
    ]
    body = _img(_plot_phenotypes(counts, genes), "phenotype distribution per gene",
                "Colours group phenotypes by consequence; the table gives each phenotype as written by the guideline.")  # fmt: skip
    return _section("phenotypes", body + _table([("Gene", ""), ("Samples", "n"), ("Phenotypes", "")], rows))


def _missing_section(missing: pd.DataFrame, total: int, genes: list[str], n_samples: int, assume_reference: bool) -> str:
    """``missing``: the first TOP_TABLE of missing_by_sample's rows; ``total``: its length."""
    if missing.empty:
        note = "No sample has a missing knowledge-base position."
        if assume_reference:
            note += (
                " Positions absent from the input were assumed reference (assume_reference was on); see the genotype table above."
            )
        return _section("missing", f'<p class="note">{_e(note)}</p>')
    top = missing.head(TOP_TABLE)
    rows = [[_e(r.sample_id), _n(r.missing_positions), _e(r.genes), _e(r.no_call_genes)] for r in top.itertuples(index=False)]
    more = f" Showing {len(top)} of {total:,}." if total > len(top) else ""
    body = (
        f'<p class="note">{_n(total)} of {_n(n_samples)} samples miss at least one KB position (GT absent or <code>./.</code>,'
        f" or one allele only).{_e(more)} A missing position hides the alleles it defines.</p>"
        + _img(_plot_missing(missing, genes), "samples with the most missing positions")
        + _table([("Sample", "id"), ("Missing positions", "n"), ("Per gene", ""), ("Genes not called", "")], rows)
    )
    return _section("missing", body)


def _novel_section(novel: pd.DataFrame, genes: list[str]) -> str:
    if novel.empty:
        return _section("novel", '<p class="note">No sample carries a variant that no known allele contains.</p>')
    top = novel.head(TOP_TABLE)

    def carriers(ids: list[str], samples: int) -> str:
        shown = ", ".join(_e(s) for s in ids[:CARRIERS_SHOWN])
        return shown + (f" … (+{samples - CARRIERS_SHOWN:,})" if samples > CARRIERS_SHOWN else "")

    rows = [[_e(r.variant), _e(r.gene), _n(r.samples), carriers(r.sample_ids, r.samples)] for r in top.itertuples(index=False)]
    more = f" Showing {len(top)} of {len(novel):,}." if len(novel) > len(top) else ""
    plot = novel.head(TOP_PLOT)
    body = (
        f'<p class="note">Alleles at KB positions that no allele definition contains: the call ignores them, so the '
        f"sample may carry an undescribed allele. Worth a look in the raw data.{_e(more)}</p>"
        + _img(
            _plot_counts(
                [f"{v} ({g})" for v, g in zip(plot["variant"], plot["gene"])],
                list(plot["samples"]),
                _gene_colours(plot["gene"], genes),
                f"Novel variants by carriers (top {len(plot)})",
                "samples",
            ),
            "novel variants by number of samples",
        )  # fmt: skip
        + _table([("Variant", "id"), ("Gene", ""), ("Samples", "n"), ("Carried by", "id")], rows)
    )
    return _section("novel", body)


def _reasons_section(reasons: pd.DataFrame, nulls: int) -> str:
    bug = (
        f'<p class="note flag">{_n(nulls)} null entries in <code>calls.warnings</code> were ignored: '
        "a pipeline bug (a warning list should hold text only); please report it.</p>"
        if nulls
        else ""
    )
    if reasons.empty:
        return _section("warnings", bug + '<p class="note">No call carries a reason code.</p>')
    plot = reasons.head(15)
    rows = [[f"<code>{_e(r.code)}</code>", _e(r.meaning), _e(r.genes), _n(r.calls), _n(r.samples)]
            for r in reasons.itertuples(index=False)]  # fmt: skip
    body = (
        '<p class="note">Calls counted by reason code (<code>calls.reason_codes</code>); a call with several '
        "reasons counts once under each. The details of each call are in its <code>warnings</code>.</p>"
        + _img(
            _plot_counts(
                list(plot["code"]),
                list(plot["calls"]),
                [AMBER] * len(plot),
                "Reason codes (sample × gene results carrying it)",
                "results",
            ),
            "calls counted by reason code",
        )  # fmt: skip
        + _table([("Code", ""), ("Meaning", ""), ("Genes", ""), ("Results", "n"), ("Samples", "n")], rows)
        + bug
    )
    return _section("warnings", body)


def _population_section(summary: CallSummary, label: str) -> str:
    genes, rates, counts, sizes = summary.genes, summary.population_rates, summary.population_phenotypes, summary.population_sizes
    pops = sorted(sizes, key=lambda p: (p == NO_POPULATION, _natural(p)))
    summary = ", ".join(f"{_e(p)} {_n(sizes[p])}" for p in pops)
    rows = [
        [_e(r.population), _e(r.gene), _n(r.samples), _pct(r.call_rate), _pct(r.ambiguity_rate), _pct(r.no_call_rate), _pct(r.novel_variant_rate)]
        for r in rates.sort_values(["population", "gene"], key=lambda s: s.map(_natural)).itertuples(index=False)
    ]  # fmt: skip
    table = _table([("Population", ""), ("Gene", ""), ("Samples", "n"), ("Call rate", "n"), ("Ambiguity", "n"),
                    ("No call", "n"), ("With novel variants", "n")], rows)  # fmt: skip
    opened = " open" if len(rows) <= 40 else ""
    body = (
        f'<p class="note">Samples by {_e(label)}: {summary}.</p>'
        + _img(
            _plot_population_rates(rates, pops, genes),
            f"call, ambiguity, no-call and novel-variant rates per {label}",
            "Colour shows distance from a perfect result (darker = further); each cell gives the rate.",
        )  # fmt: skip
        + f"<details{opened}><summary>Rates per {_e(label)} and gene ({len(rows)} rows)</summary>{table}</details>"
        + f"<h3>Phenotypes per {_e(label)}</h3>"
        + _img(_plot_population_phenotypes(counts, pops, genes), f"phenotype distribution per gene and {label}")
    )
    return _section("populations", body)


# --- entry point --------------------------------------------------------------------------


def render_qc_report(results_dir: Path | str, out_path: Path | str, *, populations: pd.DataFrame | None = None) -> Path:
    """Write the batch's QC report (one HTML file) from ``results_dir``'s Parquet tables.

    ``populations`` maps samples to populations (columns ``sample_id`` or ``sample``, and
    ``superpopulation`` or ``population``; see :func:`read_populations` and
    :func:`populations_from_sheet`); with it the report adds the rates per population.
    """
    results_dir, out_path = Path(results_dir), Path(out_path)
    prov_df = read_table(results_dir / "provenance.parquet")
    prov = dict(zip(prov_df["key"].astype(str), prov_df["value"]))
    batch = str(prov.get("batch") or results_dir.name)
    genotypes = results_dir / "genotypes.parquet"
    status = status_counts(genotypes) if genotypes.exists() else None
    if populations is not None:
        populations = normalise_populations(populations)
    summary = summarise_calls(results_dir / "calls.parquet", populations)
    genes = summary.genes

    with matplotlib.rc_context(_PLOT_STYLE):
        parts = [
            _header(prov, summary, batch),
            _kpis(summary),
            _call_rate_section(summary.rates, status),
            _phenotype_section(summary.phenotypes, genes),
            _missing_section(
                summary.missing,
                summary.samples_with_missing,
                genes,
                summary.samples,
                prov.get("option:assume_reference") == "true",
            ),  # fmt: skip
            _novel_section(summary.novel, genes),
            _reasons_section(summary.reasons, summary.null_warnings),
        ]
        if summary.population_sizes is not None:
            parts.append(_population_section(summary, populations.attrs.get("label", "population")))
    footer = (
        f"<footer>pgx {_e(__version__)} · knowledge base {_e(prov.get('kb_version', ''))} · batch {_e(batch)} · "
        "source: calls.parquet, genotypes.parquet, provenance.parquet in the batch's results directory.</footer>"
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>pgx QC: {_e(batch)}</title><style>{_CSS}</style></head><body>" + "\n".join(parts) + footer + "</body></html>\n"
    )
    with atomic_path(out_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the page is for the lab
    return out_path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
