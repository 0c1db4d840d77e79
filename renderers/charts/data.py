"""What a chart is about: topics (a measure over a dimension), vocabularies, axes and values.

Everything here draws plain Python data from the passed ``rng``; nothing touches matplotlib.
Category names come from ``assets/vocab/*.txt`` (one name per line, ``#`` starts a comment).

Values are made *readable* at the scene's ``readout``:

* ``labels``: every value is printed on the chart at ``decimals`` places, so answers are exact.
* ``grid``: every value is a multiple of the value axis' tick step and lies on a drawn gridline,
  so it can be read exactly off the axis.
* ``estimate``: values must be estimated from the axis; numeric answers carry a ``tolerance``
  (a quarter of the tick step with gridlines, half of it without) that the question states.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from renderers.qa import pick


def _vocab_dir() -> Path:
    """``assets/vocab`` of the checkout this runs from, else the copy a wheel ships as the data
    package ``renderers.charts.vocab``. The checkout wins for the reason mmsynth.resources gives
    (an editable install maps the package to the checkout it was made from); the rule is
    repeated here because renderers never imports mmsynth."""
    root = Path(__file__).resolve().parents[2]
    checkout = root / "assets" / "vocab"
    if (root / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    try:
        return Path(str(importlib.resources.files("renderers.charts.vocab")))
    except ModuleNotFoundError:  # an install without its data: name where it belongs
        return Path(__file__).resolve().parent / "vocab"


VOCAB_DIR = _vocab_dir()


class ImpossibleScene(ValueError):
    """The requested chart cannot be made from these parameters (counted as a rejection)."""


@functools.cache
def vocab(name: str) -> tuple[str, ...]:
    """The names in ``assets/vocab/<name>.txt``, in file order."""
    path = VOCAB_DIR / f"{name}.txt"
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            words.append(line)
    if not words:
        raise ImpossibleScene(f"vocabulary {path} is empty")
    return tuple(words)


def choose(rng: np.random.Generator, names: tuple[str, ...] | list[str], k: int) -> list[str]:
    """``k`` distinct names in random order."""
    if k > len(names):
        raise ImpossibleScene(f"asked for {k} names from a vocabulary of {len(names)}")
    idx = rng.choice(len(names), size=k, replace=False)
    return [names[int(i)] for i in idx]


# --- dimensions: what the categories (or series) are -------------------------------------------

@dataclass(frozen=True)
class Dim:
    key: str
    name: str  # axis label / table header ("Country")
    plural: str  # in questions ("countries")
    vocab: str | None = None  # assets/vocab file, or None for generated (years, quarters)
    time: bool = False  # an ordered sequence (years, months, ...)


DIMS = {d.key: d for d in (
    Dim("countries", "Country", "countries", "countries"),
    Dim("cities", "City", "cities", "cities"),
    Dim("products", "Product", "products", "products"),
    Dim("departments", "Department", "departments", "departments"),
    Dim("companies", "Company", "companies", "companies"),
    Dim("regions", "Region", "regions", "regions"),
    Dim("fruits", "Fruit", "fruits", "fruits"),
    Dim("sports", "Sport", "sports", "sports"),
    Dim("subjects", "Subject", "subjects", "subjects"),
    Dim("channels", "Channel", "channels", "channels"),
    Dim("energy_sources", "Energy source", "energy sources", "energy_sources"),
    Dim("transport", "Mode of transport", "modes of transport", "transport"),
    Dim("age_groups", "Age group", "age groups", "age_groups"),
    Dim("genres", "Genre", "genres", "genres"),
    Dim("scenarios", "Scenario", "scenarios", "scenarios"),
    Dim("genders", "Group", "groups", "genders"),
    Dim("years", "Year", "years", None, time=True),
    Dim("months", "Month", "months", "months", time=True),
    Dim("quarters", "Quarter", "quarters", None, time=True),
    Dim("weekdays", "Day", "days", "weekdays", time=True),
)}


def dim_size(dim: Dim) -> int:
    """How many distinct names ``dim`` can provide."""
    if dim.vocab is None:
        return 1000
    return len(vocab(dim.vocab))


def dim_names(rng: np.random.Generator, dim: Dim, k: int, *, short_months: bool = True
              ) -> list[str]:
    """``k`` names of ``dim``: a random subset for nominal dims, a consecutive run for time."""
    if dim.key == "years":
        start = int(rng.integers(1990, 2025 - k + 1))
        return [str(start + i) for i in range(k)]
    if dim.key == "quarters":
        year = int(rng.integers(2015, 2024))
        first = int(rng.integers(0, 4))
        out = []
        for i in range(first, first + k):
            out.append(f"Q{i % 4 + 1} {year + i // 4}")
        return out
    names = vocab(dim.vocab)
    if dim.time:
        if k > len(names):
            raise ImpossibleScene(f"only {len(names)} {dim.plural} exist, asked for {k}")
        start = int(rng.integers(0, len(names) - k + 1))
        run = list(names[start:start + k])
        if dim.key == "months" and short_months:
            run = [m[:3] for m in run]
        return run
    return choose(rng, names, k)


# --- measures: what the numbers are ------------------------------------------------------------

@dataclass(frozen=True)
class Measure:
    name: str  # "Revenue" (title, axis label)
    phrase: str  # "revenue" (inside a sentence)
    unit: str  # "million USD" ("" when the measure is a plain count)
    affix: str | None  # printed with numbers: "$" before, "%" or "°C" after, or None
    lo: float  # typical magnitude range of the values
    hi: float
    decimals: tuple[int, ...]  # printed decimals to choose from
    dims: tuple[str, ...]  # category dimensions it makes sense over
    additive: bool  # sums and shares of values mean something
    signed: bool = False  # values may be negative
    seasonal: bool = False  # a monthly pattern when drawn over months
    parts: bool = False  # the values are parts of a whole (pie slices)


MEASURES: tuple[Measure, ...] = (
    Measure("Revenue", "revenue", "million USD", "$", 5, 900, (0, 1),
            ("products", "companies", "regions", "countries", "departments", "channels"), True),
    Measure("Sales", "sales", "thousand units", None, 2, 800, (0, 1),
            ("products", "regions", "channels", "fruits", "companies"), True, parts=True),
    Measure("Profit", "profit", "million USD", "$", 5, 300, (0, 1),
            ("companies", "regions", "products", "departments"), True, signed=True),
    Measure("Population", "population", "million", None, 1, 250, (0, 1), ("countries",), True),
    Measure("GDP growth", "GDP growth", "%", "%", 0.5, 8, (1,), ("countries",), False,
            signed=True),
    Measure("Unemployment rate", "unemployment rate", "%", "%", 2, 25, (1,),
            ("countries", "cities", "age_groups", "regions"), False),
    Measure("Inflation", "inflation", "%", "%", 0.5, 12, (1,), ("countries",), False,
            signed=True),
    Measure("Average temperature", "average temperature", "°C", "°C", 2, 32, (0, 1),
            ("cities",), False, signed=True, seasonal=True),
    Measure("Rainfall", "rainfall", "mm", None, 10, 300, (0,), ("cities",), False,
            seasonal=True),
    Measure("Employees", "number of employees", "", None, 25, 900, (0,),
            ("departments", "companies", "regions"), True, parts=True),
    Measure("Budget", "budget", "thousand USD", "$", 20, 900, (0,), ("departments",), True,
            parts=True),
    Measure("Customer satisfaction", "customer satisfaction score", "out of 10", None, 4, 9.8,
            (1,), ("companies", "products", "channels", "departments"), False),
    Measure("Website visitors", "number of website visitors", "thousands", None, 5, 900, (0, 1),
            ("channels", "countries", "age_groups"), True, seasonal=True, parts=True),
    Measure("Electricity generation", "electricity generation", "TWh", None, 1, 400, (0, 1),
            ("energy_sources", "countries"), True, parts=True),
    Measure("CO2 emissions", "CO2 emissions", "million tonnes", None, 5, 900, (0,),
            ("countries", "energy_sources"), True),
    Measure("Average price", "average price", "USD", "$", 1, 80, (2, 1), ("products", "fruits"),
            False),
    Measure("Students enrolled", "number of students enrolled", "", None, 20, 600, (0,),
            ("subjects",), True, parts=True),
    Measure("Average exam score", "average exam score", "points", None, 45, 95, (0, 1),
            ("subjects", "regions"), False),
    Measure("Participants", "number of participants", "", None, 10, 500, (0,),
            ("sports", "age_groups"), True, parts=True),
    Measure("Share of commuters", "share of commuters", "%", "%", 2, 60, (0, 1),
            ("transport",), True, parts=True),
    Measure("Box office revenue", "box office revenue", "million USD", "$", 10, 900, (0, 1),
            ("genres",), True, parts=True),
    Measure("Orders", "number of orders", "", None, 50, 2000, (0,),
            ("weekdays", "channels", "products"), True, seasonal=True, parts=True),
    Measure("Average wait time", "average wait time", "minutes", None, 2, 60, (0, 1),
            ("departments", "transport"), False),
    Measure("Crop yield", "crop yield", "tonnes per hectare", None, 1, 12, (1, 2), ("fruits",),
            False),
    Measure("Exports", "exports", "billion USD", "$", 5, 900, (0, 1), ("countries",), True,
            parts=True),
    Measure("Tourist arrivals", "number of tourist arrivals", "million", None, 0.5, 90, (1,),
            ("countries", "cities"), True, seasonal=True),
    Measure("Medals won", "number of medals won", "", None, 4, 120, (0,), ("countries",), True),
    Measure("Market share", "market share", "%", "%", 2, 40, (0, 1), ("companies",), True,
            parts=True),
)

# Extra ways to split a measure into series, beyond years and its other category dimensions.
SPLITS = {
    "Revenue": ("scenarios", "channels", "regions"), "Sales": ("channels", "regions"),
    "Profit": ("scenarios", "regions"), "Budget": ("scenarios",),
    "Unemployment rate": ("genders", "age_groups"), "Employees": ("genders", "age_groups"),
    "Students enrolled": ("genders",), "Participants": ("genders", "age_groups"),
    "Average exam score": ("genders",), "Website visitors": ("channels",),
    "Orders": ("channels", "regions"), "Tourist arrivals": ("age_groups",),
    "Population": ("age_groups", "genders"), "Customer satisfaction": ("regions",),
}
# Series that split a whole into parts (these may be stacked); "years" and "scenarios" not.
STACKABLE_SERIES = ("regions", "genders", "channels", "age_groups", "products", "companies",
                    "energy_sources", "transport", "departments", "countries", "cities", "fruits",
                    "sports", "subjects", "genres")


def series_dims(m: Measure, cat_key: str, stacked: bool) -> list[str]:
    """Dimensions that make sense as the series of ``m`` over categories ``cat_key``."""
    keys = ["years", *SPLITS.get(m.name, ()), *m.dims]
    keys = [k for k in dict.fromkeys(keys) if k != cat_key]
    if stacked:
        keys = [k for k in keys if k in STACKABLE_SERIES]
    return keys


def measure_record(m: Measure) -> dict[str, Any]:
    """The scene's description of the measure (what questions and captions need)."""
    return {"name": m.name, "phrase": m.phrase, "unit": m.unit, "affix": m.affix,
            "additive": m.additive, "signed": m.signed}


def dim_record(d: Dim) -> dict[str, Any]:
    return {"key": d.key, "name": d.name, "plural": d.plural, "time": d.time}


def pick_measure(rng: np.random.Generator, *, additive: bool | None = None,
                 parts: bool | None = None, dims: tuple[str, ...] | None = None,
                 seasonal: bool | None = None) -> Measure:
    """A measure satisfying the filters (each None = don't care)."""
    ok = [m for m in MEASURES
          if (additive is None or m.additive == additive)
          and (parts is None or m.parts == parts)
          and (seasonal is None or m.seasonal == seasonal)
          and (dims is None or set(m.dims) & set(dims))]
    if not ok:
        raise ImpossibleScene("no measure fits the requested chart")
    return pick(rng, ok)


def is_count(m: Measure) -> bool:
    """A measure of whole things (medals, employees, orders): never fractional."""
    return m.decimals == (0,) and not m.unit.startswith(("thousand", "million", "billion"))


def value_label(m: dict[str, Any]) -> str:
    """The value axis / table header: "Revenue (million USD)"."""
    return f"{m['name']} ({m['unit']})" if m["unit"] else m["name"]


# --- axes --------------------------------------------------------------------------------------

def step_decimals(step: float) -> int:
    """Decimals needed to print multiples of a nice step (1, 2, 2.5 or 5 × 10^k)."""
    for d in range(0, 8):
        if abs(step * 10**d - round(step * 10**d)) < 1e-9:
            return d
    return 8


def nice_step(span: float, target: int, mantissas: tuple[float, ...] = (1, 2, 5)) -> float:
    """The smallest step m × 10^k (m in ``mantissas``) giving at most ``target`` intervals."""
    if span <= 0:
        span = 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (*mantissas, 10):
        if m * mag >= raw * (1 - 1e-12):
            step = m * mag
            return _plain(round(step, step_decimals(step)))
    return _plain(round(10 * mag, 8))


def nice_axis(lo: float, hi: float, target: int, *, zero: bool, headroom: float = 0.0,
              mantissas: tuple[float, ...] = (1, 2, 5), whole: bool = False) -> dict[str, float]:
    """Axis limits that are multiples of a nice step and hold [lo, hi] (and 0 when ``zero``).
    ``whole``: the step is at least 1 (values on its gridlines are counts)."""
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    span = hi - lo or abs(hi) or 1.0
    if headroom:
        hi = hi + headroom * span if hi > 0 or not zero else hi
        lo = lo - headroom * span if lo < 0 else lo
    if whole:
        mantissas = tuple(m for m in mantissas if m != 2.5)  # 2.5 would give half counts
    step = nice_step(hi - lo, target, mantissas)
    if whole and step < 1:
        step = 1
    sd = step_decimals(step)
    k0, k1 = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    if k1 <= k0:
        k1 = k0 + 1
    return {"min": _plain(round(k0 * step, sd)), "max": _plain(round(k1 * step, sd)),
            "step": _plain(step)}


def ticks(axis: dict[str, float]) -> list[float]:
    """The tick values of an axis, exactly as multiples of its step."""
    step, sd = axis["step"], step_decimals(axis["step"])
    k0, k1 = round(axis["min"] / step), round(axis["max"] / step)
    return [_plain(round(k * step, sd)) for k in range(k0, k1 + 1)]


def _plain(v: float) -> float | int:
    """A JSON-friendly number: an int when integral."""
    v = float(v) + 0.0
    return int(round(v)) if abs(v - round(v)) < 1e-9 else v


def plain(v: float, decimals: int) -> float | int:
    """``v`` rounded to ``decimals`` as a plain Python number (int when ``decimals`` is 0)."""
    r = round(float(v), decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    return int(round(r)) if decimals == 0 else r


def snap(v: float, step: float) -> float | int:
    """``v`` moved to the nearest multiple of ``step``."""
    return _plain(round(round(v / step) * step, step_decimals(step)))


# --- values ------------------------------------------------------------------------------------

def magnitude(rng: np.random.Generator, m: Measure) -> float:
    """A typical size for this chart's values, log-uniform in the measure's range."""
    return float(math.exp(rng.uniform(math.log(m.lo), math.log(m.hi))))


def raw_values(rng: np.random.Generator, m: Measure, n: int, center: float,
               signed: bool | None = None) -> np.ndarray:
    """``n`` values around ``center`` from one of several distributions."""
    shape = pick(rng, ("uniform", "skewed", "normal", "dominant"))
    if shape == "uniform":
        v = center * rng.uniform(0.15, 1.0, size=n)
    elif shape == "skewed":
        v = center * 0.35 * rng.lognormal(0.0, 0.6, size=n)
    elif shape == "normal":
        v = center * np.clip(rng.normal(0.6, 0.18, size=n), 0.08, None)
    else:
        v = center * rng.uniform(0.1, 0.5, size=n)
        v[int(rng.integers(n))] = center * rng.uniform(0.8, 1.0)
    if (m.signed if signed is None else signed) and rng.random() < 0.5:
        v = v - center * rng.uniform(0.15, 0.5)
    return v


def time_values(rng: np.random.Generator, m: Measure, n: int, center: float, *,
                months: bool, start_month: int = 0) -> np.ndarray:
    """A plausible time series: a drifting random walk, or a yearly cycle over months."""
    if months and m.seasonal and rng.random() < 0.7:
        phase = rng.uniform(0, 2 * math.pi)
        t = (np.arange(n) + start_month) / 12 * 2 * math.pi
        base = center * rng.uniform(0.45, 0.7)
        amp = center * rng.uniform(0.2, 0.45)
        v = base + amp * np.sin(t + phase) + rng.normal(0, center * 0.05, size=n)
        if m.signed and rng.random() < 0.4:
            v = v - center * rng.uniform(0.3, 0.6)
        return v
    drift = rng.uniform(-0.08, 0.1)
    vol = rng.uniform(0.04, 0.2)
    level = center * rng.uniform(0.3, 0.7)
    out = []
    for _ in range(n):
        out.append(level)
        level = level * (1 + rng.normal(drift, vol))
        if level < center * 0.03:
            level = center * rng.uniform(0.03, 0.1)
    v = np.array(out)
    if m.signed and rng.random() < 0.35:
        v = v - center * rng.uniform(0.1, 0.4)
    return v


def round_decimals(rng: np.random.Generator, m: Measure, center: float) -> int:
    """Printed decimals for values of this size."""
    d = pick(rng, m.decimals)
    if center >= 200:
        d = 0
    elif center < 5 and d == 0 and m.decimals != (0,):  # counts stay whole
        d = 1
    return int(d)


def quantize(values: np.ndarray, mode: str, step: float, decimals: int,
             nonzero: bool) -> list[float | int]:
    """Values as stored: multiples of ``step`` (``grid``) or rounded to ``decimals``."""
    out = []
    for v in np.asarray(values, dtype=float).ravel():
        if mode == "grid":
            q = snap(float(v), step)
            if nonzero and q == 0:
                q = snap(step if v >= 0 else -step, step)
        else:
            q = plain(float(v), decimals)
            if nonzero and q == 0:
                q = plain(10.0 ** -decimals * (1 if v >= 0 else -1), decimals)
        out.append(q)
    return out


def cover(axis: dict[str, float], lo: float, hi: float, headroom: float = 0.0
          ) -> dict[str, float]:
    """``axis`` extended by whole steps so that it holds [lo, hi] (plus ``headroom`` × span
    beyond a data end that reaches the axis end)."""
    step = axis["step"]
    sd = step_decimals(step)
    span = max(hi, axis["max"]) - min(lo, axis["min"])
    top = hi + headroom * span if hi > 0 else hi
    bottom = lo - headroom * span if lo < 0 else lo
    k0 = min(round(axis["min"] / step), math.floor(bottom / step + 1e-9))
    k1 = max(round(axis["max"] / step), math.ceil(top / step - 1e-9))
    return {"min": _plain(round(k0 * step, sd)), "max": _plain(round(k1 * step, sd)),
            "step": step}


def tolerance(axis: dict[str, float], grid_lines: bool) -> float:
    """How precisely a value can be read off this axis: ¼ of a step with gridlines, ½ without."""
    t = axis["step"] / (4 if grid_lines else 2)
    return _plain(round(t, step_decimals(axis["step"]) + 2))


# --- numbers as printed on the chart -----------------------------------------------------------

def fmt_number(v: float, decimals: int, thousands: bool = False) -> str:
    """``v`` at ``decimals`` places, optionally with thousands separators; "-" for negatives."""
    text = f"{abs(v):,.{decimals}f}" if thousands else f"{abs(v):.{decimals}f}"
    return ("-" + text) if round(v, decimals) < 0 else text


def fmt_affixed(v: float, decimals: int, affix: str | None, thousands: bool = False) -> str:
    """A printed value with its affix: "$12.5", "-$3", "45%", "12°C", "1,234"."""
    body = fmt_number(abs(v), decimals, thousands)
    sign = "-" if round(v, decimals) < 0 else ""
    if affix in ("$", "€", "£"):
        return f"{sign}{affix}{body}"
    if affix:
        return f"{sign}{body}{affix}"
    return f"{sign}{body}"


# --- the data table ----------------------------------------------------------------------------

def make_table(header: str, series: list[str], categories: list[str],
               columns: list[list[float | int]]) -> dict[str, Any]:
    """``{"columns": [header, *series], "rows": [[category, v1, v2, ...], ...]}``."""
    rows = [[c, *(col[i] for col in columns)] for i, c in enumerate(categories)]
    return {"columns": [header, *series], "rows": rows}


def table_parts(table: dict[str, Any]) -> tuple[list[str], list[str], list[list[float]]]:
    """(categories, series, values[category][series]) of a table."""
    cats = [r[0] for r in table["rows"]]
    series = list(table["columns"][1:])
    values = [list(r[1:]) for r in table["rows"]]
    return cats, series, values
