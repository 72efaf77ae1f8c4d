#!/usr/bin/env python3
"""Generate the deterministic example shadow week (`examples/shadow-week/`).

A seeded simulation of seven days of Stripe webhooks for the egghead migration: real
subscription lifecycles (signups via Checkout, renewals, dunning, plan and seat changes,
cancellations, refunds) delivered to both CB (the shadow, logging to a Redis stream) and
Rails (the legacy app, writing `stripe_webhook_events`), with a known mix of divergences
injected and recorded as ground truth. See `examples/README.md` for the story of the week.

    uv run python examples/generate.py --out examples/shadow-week [--seed 7]
    uv run python examples/generate.py --load-redis redis://127.0.0.1:6379/0 [--key webhook:events]
    uv run python examples/generate.py --load-sql mysql+pymysql://root@127.0.0.1:3306/test

Importable by tests: `build_week(seed)`, `write_week(week, folder)`, `load_redis(week, url, key)`,
`load_sql(week, url, table)`, `ddl(dialect_name, table)`. Deterministic: everything comes from
`random.Random(seed)`; the wall clock is never read.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import string
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

try:
    from divergence.model import StreamEntry
except ImportError:  # run from a checkout where the package is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from divergence.model import StreamEntry

UTC = timezone.utc
DEFAULT_SEED = 7
STREAM_KEY = "webhook:events"
TABLE = "stripe_webhook_events"

# -- the week ------------------------------------------------------------------------

WINDOW_END = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)   # as_of
WINDOW_START = WINDOW_END - timedelta(days=7)
LAST24_START = WINDOW_END - timedelta(hours=24)
SETTLE = timedelta(minutes=10)
PENDING_START = WINDOW_END - SETTLE
LEAD_IN_START = WINDOW_START - timedelta(minutes=20)       # stream also holds 20 min before the window
CLEAN_FROM = LAST24_START - timedelta(hours=1)             # no bug/timing divergence at or after this

# The story of the week (see README): when CB's bugs were fixed and shapes changed.
BASIL_FROM = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)      # endpoints upgraded to 2025-03-31.basil
ROLLOUT_END = BASIL_FROM + timedelta(hours=6)              # CB outcome gaps while the basil mapping rolled out
BACKFILL_DONE = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)   # CB learnt the pre-shadow subscriptions
FIX_JPY = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)        # EGG-2150
FIX_CONNECT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)    # EGG-2174
FIX_QUANTITY = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)   # EGG-2141
FIX_FINAL_ATTEMPT = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)  # EGG-2163
REDIS_FAILOVER = datetime(2026, 11, 26, 3, 14, tzinfo=UTC)    # EGG-2158: stream writes lost
DEDUP_TTL_MS = 3600 * 1000                                  # CB's dedup key lifetime (EGG-2171)

API_OLD = "2024-06-20"
API_BASIL = "2025-03-31.basil"

# -- rules (must agree with rules/egghead.yaml) ----------------------------------------

R_INVOICE_RACE = "rails-invoice-subscription-race"
R_STATUS_REREAD = "rails-subscription-status-reread"
R_PARTIAL_REFUND = "partial-refund-status"
R_CANCEL_PERIOD_END = "rails-cancel-overwrites-period-end"
R_TEST_MODE = "cb-test-mode-events"
R_MULTI_QTY = "cb-multi-item-quantity"
R_JPY = "cb-jpy-proration-amount"
R_FINAL_ATTEMPT = "cb-final-dunning-attempt-crash"
R_CB_DUP = "cb-dedup-key-expired"
R_RAILS_DUP = "rails-sidekiq-double-run"
R_CONNECT = "cb-connect-events"
R_SKIP_UNKNOWN = "cb-skips-pre-shadow-subscriptions"
R_LOST_LOG = "cb-stream-write-lost"
R_RAILS_MAILER = "rails-refund-mailer-timeout"

RULE_CATEGORY: dict[str | None, str] = {
    R_INVOICE_RACE: "timing",
    R_STATUS_REREAD: "timing",
    R_PARTIAL_REFUND: "expected",
    R_CANCEL_PERIOD_END: "expected",
    R_TEST_MODE: "expected",
    R_MULTI_QTY: "bug",
    R_JPY: "bug",
    R_FINAL_ATTEMPT: "bug",
    R_CB_DUP: "bug",
    R_RAILS_DUP: "bug",
    R_CONNECT: "bug",
    R_SKIP_UNKNOWN: "bug",
    R_LOST_LOG: "bug",
    R_RAILS_MAILER: "bug",
    None: "bug",  # unexplained
}

CONFIG_TYPES = (
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "charge.refunded",
)
SUB_TYPES = ("customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted")
COLUMNS = ("stripe_event_id", "event_type", "status", "customer_id", "subscription_id", "quantity",
           "plan_interval", "amount", "currency", "current_period_end", "cancel_at_period_end",
           "processed_at", "duration_ms", "error")

# -- public data -----------------------------------------------------------------------


@dataclass(frozen=True)
class TruthItem:
    """One injected divergence, as the shipped rules classify it."""

    event_id: str
    event_type: str
    kind: str
    field: str                # "" for kinds that are not about one field
    category: str             # timing | bug | expected
    rule_id: str | None       # None: no rule explains it (counts as bug)
    first_stream_id: str      # "" for an event CB never logged
    detail: str = ""          # "skipped" for missing_in_shadow where CB only skipped it
    side: str = ""            # for duplicate_processing: "cb" or "rails"
    at_ms: int = 0            # first delivery (or Rails processed_at for a Rails-only event)


@dataclass
class Week:
    seed: int
    entries: list[StreamEntry]
    legacy_rows: list[dict[str, Any]]
    truth: list[TruthItem]
    window_start: datetime
    window_end: datetime
    as_of: datetime
    summary: dict[str, Any] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # event id -> facts, for tests

    @property
    def expected(self) -> dict[str, Any]:
        """The expected figures (also in the manifest under generator.expected)."""
        return self.summary

    def truth_in(self, start: datetime, end: datetime | None = None) -> list[TruthItem]:
        lo, hi = _ms(start), _ms(end or self.window_end)
        return [t for t in self.truth if lo <= t.at_ms < hi]


# -- helpers -------------------------------------------------------------------------

ALNUM = string.ascii_letters + string.digits
EPOCH_NAIVE = datetime(1970, 1, 1)


def _ms(dt: datetime) -> int:
    return int(round(dt.timestamp() * 1000))


def _dt(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def _iso_ms(ms: int) -> str:
    return _dt(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _naive(ms: int) -> datetime:
    return EPOCH_NAIVE + timedelta(milliseconds=ms)


def _add_months(s: int, months: int) -> int:
    """Unix seconds plus calendar months (day clamped), the way Stripe advances periods."""
    d = datetime.fromtimestamp(s, UTC)
    month = d.month - 1 + months
    year, month = d.year + month // 12, month % 12 + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
            31, 31, 30, 31, 30, 31][month - 1]
    return int(d.replace(year=year, month=month, day=min(d.day, days)).timestamp())


def _next_period(s: int, interval: str) -> int:
    return _add_months(s, 12 if interval == "year" else 1)


ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp"}


def _major(minor: int, currency: str) -> Decimal:
    value = Decimal(minor) if currency.lower() in ZERO_DECIMAL else Decimal(minor) / 100
    return value.quantize(Decimal("0.01"))


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# Price catalogue: (product, unit amount in minor units) per currency and interval.
PRICES = {
    ("usd", "month", "pro"): 2500, ("usd", "year", "pro"): 25000,
    ("usd", "month", "team"): 2000, ("usd", "year", "team"): 20000,
    ("usd", "month", "addon"): 5000, ("usd", "year", "addon"): 50000,
    ("eur", "month", "pro"): 2300, ("eur", "year", "pro"): 23000,
    ("eur", "month", "team"): 1900, ("eur", "year", "team"): 19000,
    ("eur", "month", "addon"): 4600, ("eur", "year", "addon"): 46000,
    ("jpy", "month", "pro"): 3800, ("jpy", "year", "pro"): 38000,
    ("jpy", "month", "team"): 3000, ("jpy", "year", "team"): 30000,
    ("jpy", "month", "addon"): 7500, ("jpy", "year", "addon"): 75000,
}
ONE_OFF = {"usd": [4900, 9900, 14900], "eur": [4500, 8900], "jpy": [7800, 14800]}
PRODUCT_NAMES = {"pro": "egghead Pro", "team": "egghead Team seat", "addon": "Team admin console"}
TRANSIENT_ERRORS = [
    "PrismaClientKnownRequestError: Timed out fetching a new connection from the connection pool (P2024)",
    "Error: connect ETIMEDOUT 10.12.0.7:6379",
    "Error: Stripe API request failed: 503 Service Unavailable (GET /v1/subscriptions)",
]
FINAL_ATTEMPT_ERROR = ("TypeError: Cannot read properties of null (reading 'getTime')\n"
                       "    at nextRetryAt (src/webhooks/invoice/paymentFailed.ts:41:38)\n"
                       "    at handleInvoicePaymentFailed (src/webhooks/invoice/paymentFailed.ts:18:21)")
RAILS_MAILER_ERROR = ("Net::ReadTimeout: Net::ReadTimeout with #<TCPSocket:(closed)> "
                      "(RefundReceiptMailer#deliver_now, app/jobs/stripe/charge_refunded_job.rb:27)")


@dataclass
class _Sub:
    id: str
    customer: str
    currency: str
    interval: str
    items: list[dict[str, Any]]
    status: str
    cps: int
    cpe: int
    created: int
    cape: bool = False
    cancel_at: int | None = None
    canceled_at: int | None = None
    ended_at: int | None = None
    trial_start: int | None = None
    trial_end: int | None = None
    default_pm: str | None = None
    latest_invoice: str | None = None
    last_charge: dict[str, Any] | None = None
    livemode: bool = True
    account: str | None = None
    pre_shadow: bool = False

    @property
    def quantity(self) -> int:
        return sum(i["qty"] for i in self.items)

    @property
    def amount(self) -> int:
        return sum(i["unit"] * i["qty"] for i in self.items)

    def snap(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["items"] = copy.deepcopy(self.items)
        d.pop("last_charge")
        return d


@dataclass
class _Ev:
    id: str
    type: str
    t_ms: int                       # Stripe created the event (ms)
    cb_ms: int = 0                  # CB first receipt
    rails_ms: int = 0               # Rails receipt
    customer: str | None = None
    currency: str = "usd"
    livemode: bool = True
    account: str | None = None
    sub: dict[str, Any] | None = None
    pa: dict[str, Any] | None = None
    inv: dict[str, Any] | None = None
    cs: dict[str, Any] | None = None
    ch: dict[str, Any] | None = None
    # CB side
    cb_plan: str = "normal"         # normal | none | skipped | error | cb_dup | transient | retry
    cb_override: dict[str, Any] = field(default_factory=dict)
    cb_drop: tuple[str, ...] = ()
    payload: str = "sample"         # sample | force | never
    mode: str = "shadow"
    # Rails side
    rails: str = "row"              # row | none | dup
    rails_override: dict[str, Any] = field(default_factory=dict)
    rails_error: str | None = None
    divs: list[tuple[str, str, str | None, str, str]] = field(default_factory=list)  # kind, field, rule, detail, side
    story: str = ""
    zone: str = ""                  # lead | window | pending
    malformed: str = ""             # reason, for the malformed entries
    processed_ms: int | None = None  # Rails processed_at (first row), once materialised

    @property
    def created_s(self) -> int:
        return self.t_ms // 1000


# -- the simulation ----------------------------------------------------------------------


class _Gen:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.used: set[str] = set()
        self.events: list[_Ev] = []
        self.emails: dict[str, str] = {}
        self.t0 = _ms(LEAD_IN_START)
        self.t_end = _ms(WINDOW_END)
        self.price_ids: dict[tuple[str, str, str], str] = {}
        self.outage: tuple[int, int] = (0, 0)
        self.products = {k: "prod_" + self._rand(14) for k in PRODUCT_NAMES}
        for key in sorted(PRICES):
            self.price_ids[key] = "price_1" + self._rand(23)

    # ids
    def _rand(self, n: int) -> str:
        return "".join(self.rng.choice(ALNUM) for _ in range(n))

    def new_id(self, prefix: str, n: int) -> str:
        while True:
            value = prefix + self._rand(n)
            if value not in self.used:
                self.used.add(value)
                return value

    def evt_id(self) -> str:
        return self.new_id("evt_1", 23)

    def customer(self, livemode: bool = True) -> str:
        cus = self.new_id("cus_", 14)
        self.emails[cus] = f"learner{len(self.emails) + 1042}@example.com"
        return cus

    # times
    def diurnal_time(self, lo_ms: int, hi_ms: int) -> int:
        while True:
            t = self.rng.randrange(lo_ms, hi_ms)
            hour = (t / 3_600_000) % 24
            weight = 0.35 + 0.65 * (0.5 + 0.5 * math.cos(2 * math.pi * (hour - 17) / 24))
            if self.rng.random() < weight:
                return t

    def uniform(self, lo: datetime, hi: datetime) -> int:
        return self.rng.randrange(_ms(lo), _ms(hi))

    def opt_time(self) -> int:
        """A time for an optional action: inside the compared part of the window."""
        return self.diurnal_time(_ms(WINDOW_START) + 300_000, _ms(PENDING_START) - 120_000)

    # subscriptions
    def new_sub(self, t_s: int, *, currency: str | None = None, interval: str | None = None,
                kind: str | None = None, customer: str | None = None, livemode: bool = True,
                account: str | None = None) -> _Sub:
        rng = self.rng
        currency = currency or rng.choices(["usd", "eur", "jpy"], [82, 12, 6])[0]
        interval = interval or rng.choices(["month", "year"], [76, 24])[0]
        kind = kind or rng.choices(["pro", "team", "multi"], [86.5, 12, 1.5])[0]
        items = []
        if kind == "pro":
            items.append(self._item("pro", currency, interval, 1, t_s))
        else:
            items.append(self._item("team", currency, interval, rng.randint(3, 25), t_s))
            if kind == "multi":
                items.append(self._item("addon", currency, interval, rng.randint(1, 3), t_s))
        sub = _Sub(id=self.new_id("sub_1", 23), customer=customer or self.customer(livemode), currency=currency,
                   interval=interval, items=items, status="active", cps=t_s, cpe=_next_period(t_s, interval),
                   created=t_s, default_pm=self.new_id("pm_1", 23), latest_invoice=self.new_id("in_1", 23),
                   livemode=livemode, account=account)
        return sub

    def _item(self, product: str, currency: str, interval: str, qty: int, t_s: int) -> dict[str, Any]:
        return {"id": self.new_id("si_", 14), "price": self.price_ids[(currency, interval, product)],
                "product": self.products[product], "product_kind": product,
                "unit": PRICES[(currency, interval, product)], "qty": qty, "created": t_s}

    # events
    def ev(self, type_: str, t_ms: int, *, sub: _Sub | None = None, pa: dict | None = None,
           inv: dict | None = None, cs: dict | None = None, ch: dict | None = None,
           customer: str | None = None, currency: str | None = None, story: str = "",
           livemode: bool | None = None, account: str | None = None, add: bool = True) -> _Ev:
        e = _Ev(id=self.evt_id(), type=type_, t_ms=t_ms, story=story)
        if sub is not None:
            e.sub = sub.snap()
            e.customer, e.currency, e.livemode, e.account = sub.customer, sub.currency, sub.livemode, sub.account
        if customer:
            e.customer = customer
        if currency:
            e.currency = currency
        if livemode is not None:
            e.livemode = livemode
        if account is not None:
            e.account = account
        e.pa, e.inv, e.cs, e.ch = pa, inv, cs, ch
        if add:
            self.place(e)
        return e

    def place(self, e: _Ev) -> None:
        rng = self.rng
        for _ in range(10):
            e.cb_ms = e.t_ms + rng.randint(120, 1400)
            near = [b for b in (_ms(WINDOW_START), _ms(LAST24_START), _ms(PENDING_START), _ms(CLEAN_FROM))
                    if abs(e.cb_ms - b) < 3000]
            if not near:
                break
            e.t_ms += 6000
        e.rails_ms = e.t_ms + rng.randint(120, 1400)
        if e.cb_ms < _ms(WINDOW_START):
            e.zone = "lead"
        elif e.cb_ms >= _ms(PENDING_START):
            e.zone = "pending"
        else:
            e.zone = "window"
        if e.cb_ms < self.t_end - 500:
            self.events.append(e)

    def invoice(self, sub: _Sub, t_s: int, *, reason: str, amount: int | None = None, paid: bool = True,
                attempt: int = 1, next_attempt: int | None = None, lines: list | None = None) -> dict:
        inv_id = self.new_id("in_1", 23)
        amount = sub.amount if amount is None else amount
        if lines is None:
            lines = [{"id": self.new_id("il_1", 23), "si": i["id"], "price": i["price"], "product": i["product"],
                      "unit": i["unit"], "qty": i["qty"], "amount": i["unit"] * i["qty"], "proration": False,
                      "start": sub.cps, "end": sub.cpe, "kind": i["product_kind"]} for i in sub.items]
            if amount != sum(l["amount"] for l in lines):  # trials: a $0 first invoice
                for line in lines:
                    line["amount"] = 0 if amount == 0 else line["amount"]
        inv = {"id": inv_id, "subscription": sub.id, "customer": sub.customer, "currency": sub.currency,
               "status": "paid" if paid else "open", "amount_due": amount, "amount_paid": amount if paid else 0,
               "billing_reason": reason, "attempt_count": attempt, "next_payment_attempt": next_attempt,
               "lines": lines, "period_start": sub.cps, "period_end": sub.cpe,
               "charge": self.new_id("ch_3", 23) if amount else None,
               "payment_intent": self.new_id("pi_3", 23) if amount else None,
               "number": sub.customer[4:12].upper() + f"-{self.rng.randint(1, 40):04d}", "created": t_s,
               "livemode": sub.livemode}
        sub.latest_invoice = inv_id
        if paid and amount:
            sub.last_charge = {"id": inv["charge"], "amount": amount, "invoice": inv_id,
                               "payment_intent": inv["payment_intent"], "created": t_s}
        return inv

    # ---- stories -------------------------------------------------------------------

    def signup(self, t_ms: int, *, flavour: str = "normal", sub: _Sub | None = None, story: str = "signup",
               livemode: bool = True, account: str | None = None) -> list[_Ev]:
        """Checkout -> subscription.created -> invoice.payment_succeeded (and 3DS / trial variants)."""
        rng = self.rng
        t_s = t_ms // 1000
        if sub is None:
            sub = self.new_sub(t_s, livemode=livemode, account=account)
        trial = flavour == "trial"
        three_ds = flavour in ("3ds", "t2_incomplete")
        if trial:
            sub.status, sub.trial_start, sub.trial_end = "trialing", t_s, t_s + 14 * 86400
            sub.cpe = sub.trial_end
        if three_ds:
            sub.status = "incomplete"
        out = []
        created_at = t_ms
        if flavour == "race":  # the invoice arrives before the subscription exists anywhere
            created_at = t_ms + rng.randint(900, 1800)
        out.append(self.ev("customer.subscription.created", created_at, sub=sub, story=story))
        paid_at = t_ms + (rng.randint(25_000, 150_000) if three_ds else rng.randint(1500, 4000))
        if flavour == "race":
            paid_at = t_ms
        if flavour == "t2_incomplete":
            # the payment method is attached (status still incomplete) seconds before 3DS completes
            first = self.ev("customer.subscription.updated", paid_at - rng.randint(1600, 3200), sub=sub,
                            pa={"default_payment_method": None}, story=story + "/t2")
            out.append(first)
        inv = self.invoice(sub, paid_at // 1000, reason="subscription_create", amount=0 if trial else None)
        if three_ds:
            sub.status = "active"
        out.append(self.ev("invoice.payment_succeeded", paid_at, sub=sub, inv=inv, story=story))
        if three_ds:
            out.append(self.ev("customer.subscription.updated", paid_at + rng.randint(500, 1500), sub=sub,
                               pa={"status": "incomplete"}, story=story))
        cs = {"id": self.new_id("cs_live_a1" if livemode else "cs_test_a1", 48), "mode": "subscription",
              "customer": sub.customer, "subscription": sub.id, "amount_total": inv["amount_paid"],
              "currency": sub.currency, "invoice": inv["id"], "payment_intent": None, "created": t_s - 60}
        done = paid_at + rng.randint(800, 2500) if flavour != "race" else created_at + rng.randint(800, 2000)
        out.append(self.ev("checkout.session.completed", done, sub=sub, cs=cs, story=story))
        return out

    def one_off(self, t_ms: int) -> _Ev:
        currency = self.rng.choices(["usd", "eur", "jpy"], [85, 10, 5])[0]
        amount = self.rng.choice(ONE_OFF[currency])
        cus = self.customer()
        cs = {"id": self.new_id("cs_live_a1", 48), "mode": "payment", "customer": cus, "subscription": None,
              "amount_total": amount, "currency": currency, "invoice": None,
              "payment_intent": self.new_id("pi_3", 23), "created": t_ms // 1000 - 120}
        e = self.ev("checkout.session.completed", t_ms, cs=cs, customer=cus, currency=currency, story="one-off")
        e.ch = {"id": self.new_id("ch_3", 23), "amount": amount, "payment_intent": cs["payment_intent"]}
        return e

    def refund(self, t_ms: int, *, customer: str, currency: str, charge: dict, partial: bool,
               story: str = "refund") -> _Ev:
        amount = charge["amount"]
        if partial:
            if currency in ZERO_DECIMAL:
                refunded = int(amount * self.rng.uniform(0.2, 0.8) // 100 * 100) or amount // 2
            else:
                refunded = int(round(amount * self.rng.uniform(0.2, 0.8) / 100.0)) * 100 or amount // 2
        else:
            refunded = amount
        ch = {"id": charge["id"], "amount": amount, "amount_refunded": refunded, "refunded": refunded == amount,
              "invoice": charge.get("invoice"), "payment_intent": charge.get("payment_intent"),
              "created": charge.get("created", t_ms // 1000 - 86400)}
        e = self.ev("charge.refunded", t_ms, ch=ch, customer=customer, currency=currency, story=story)
        return e

    def existing(self, n: int) -> None:
        """Subscriptions that started before the week: renewals, changes, cancellations, refunds."""
        rng = self.rng
        for _ in range(n):
            interval = rng.choices(["month", "year"], [78, 22])[0]
            period = 30 * 86400 if interval == "month" else 365 * 86400
            cpe = (self.t0 + rng.randrange(0, period * 1000)) // 1000
            cps = _add_months(cpe, -12 if interval == "year" else -1)
            sub = self.new_sub(cps, interval=interval)
            sub.cps, sub.cpe = cps, cpe
            sub.created = cps - rng.randint(0, 400) * 86400
            sub.pre_shadow = True
            sub.last_charge = {"id": self.new_id("ch_3", 23), "amount": sub.amount, "invoice": self.new_id("in_1", 23),
                               "payment_intent": self.new_id("pi_3", 23), "created": sub.cps + 3600}
            sub.latest_invoice = sub.last_charge["invoice"]
            if rng.random() < 0.03 and interval == "month":
                sub.status, sub.trial_start, sub.trial_end = "trialing", cpe - 14 * 86400, cpe
                sub.cps = sub.created = sub.trial_start
                sub.last_charge = None
            if rng.random() < 0.045:
                sub.cape, sub.cancel_at, sub.canceled_at = True, sub.cpe, sub.cps + rng.randint(1, 20) * 86400
            self._walk(sub)

    def _walk(self, sub: _Sub) -> None:
        rng = self.rng
        scheduled = []
        if sub.cpe * 1000 < self.t_end:
            scheduled.append(sub.cpe * 1000)
        actions = []
        for name, p in (("cape", 0.032), ("change", 0.02), ("cancel_now", 0.004), ("refund", 0.016)):
            if rng.random() < p:
                t = self.opt_time()
                if all(abs(t - s) > 900_000 for s in scheduled + [a[0] for a in actions]):
                    actions.append((t, name))
        timeline = sorted([(t, "renewal") for t in scheduled] + actions)
        for t, what in timeline:
            if sub.status == "canceled":
                return
            if what == "renewal":
                self._renewal(sub, t)
            elif what == "cape":
                self._toggle_cape(sub, t)
            elif what == "change":
                self._change(sub, t)
            elif what == "cancel_now":
                self._cancel_now(sub, t, refund=rng.random() < 0.5)
            elif what == "refund" and sub.last_charge:
                self.refund(t, customer=sub.customer, currency=sub.currency, charge=sub.last_charge,
                            partial=rng.random() < 0.3)

    def _renewal(self, sub: _Sub, t_ms: int) -> None:
        rng = self.rng
        if sub.status == "trialing":  # the trial converts at trial_end
            pa = {"status": "trialing", "current_period_start": sub.cps, "current_period_end": sub.cpe}
            sub.status = "active"
            sub.cps, sub.cpe = sub.cpe, _next_period(sub.cpe, sub.interval)
            self.ev("customer.subscription.updated", t_ms + rng.randint(200, 3000), sub=sub, pa=pa, story="trial-end")
            inv = self.invoice(sub, t_ms // 1000 + 3600, reason="subscription_cycle")
            self.ev("invoice.payment_succeeded", t_ms + 3_600_000 + rng.randint(-300_000, 300_000), sub=sub, inv=inv,
                    story="trial-end")
            return
        if sub.cape:
            sub.status, sub.ended_at = "canceled", sub.cpe
            self.ev("customer.subscription.deleted", t_ms + rng.randint(200, 2500), sub=sub, story="cancel-at-period-end")
            return
        pa = {"current_period_start": sub.cps, "current_period_end": sub.cpe, "latest_invoice": sub.latest_invoice}
        sub.cps, sub.cpe = sub.cpe, _next_period(sub.cpe, sub.interval)
        self.ev("customer.subscription.updated", t_ms + rng.randint(200, 3000), sub=sub, pa=pa, story="renewal")
        pay_ms = t_ms + 3_600_000 + rng.randint(-300_000, 300_000)
        if rng.random() < 0.055:  # the renewal payment fails: dunning starts
            nxt = pay_ms // 1000 + 3 * 86400
            inv = self.invoice(sub, pay_ms // 1000, reason="subscription_cycle", paid=False, next_attempt=nxt)
            self.ev("invoice.payment_failed", pay_ms, sub=sub, inv=inv, story="dunning")
            sub.status = "past_due"
            self.ev("customer.subscription.updated", pay_ms + rng.randint(400, 1500), sub=sub, pa={"status": "active"},
                    story="dunning")
            if nxt * 1000 < self.t_end:
                self._retry(sub, inv, nxt * 1000)
        else:
            inv = self.invoice(sub, pay_ms // 1000, reason="subscription_cycle")
            self.ev("invoice.payment_succeeded", pay_ms, sub=sub, inv=inv, story="renewal")

    def _retry(self, sub: _Sub, inv: dict, t_ms: int, *, final_ok: bool = True) -> None:
        rng = self.rng
        attempt = inv["attempt_count"] + 1
        if rng.random() < 0.55:
            paid = dict(inv, status="paid", amount_paid=inv["amount_due"], attempt_count=attempt,
                        next_payment_attempt=None, charge=self.new_id("ch_3", 23), payment_intent=self.new_id("pi_3", 23))
            sub.last_charge = {"id": paid["charge"], "amount": paid["amount_due"], "invoice": paid["id"],
                               "payment_intent": paid["payment_intent"], "created": t_ms // 1000}
            self.ev("invoice.payment_succeeded", t_ms, sub=sub, inv=paid, story="dunning-recovered")
            sub.status = "active"
            self.ev("customer.subscription.updated", t_ms + rng.randint(400, 1500), sub=sub, pa={"status": "past_due"},
                    story="dunning-recovered")
        else:
            failed = dict(inv, attempt_count=attempt, next_payment_attempt=t_ms // 1000 + 5 * 86400)
            self.ev("invoice.payment_failed", t_ms, sub=sub, inv=failed, story="dunning")

    def dunning(self, n: int) -> None:
        """Subscriptions already past_due when the week starts; Stripe's smart retries run during it."""
        rng = self.rng
        for _ in range(n):
            t = self.uniform(LEAD_IN_START + timedelta(minutes=30), PENDING_START - timedelta(minutes=5))
            sub = self.new_sub(t // 1000 - rng.randint(5, 20) * 86400, interval="month")
            sub.pre_shadow, sub.status = True, "past_due"
            inv = self.invoice(sub, sub.cps + 3600, reason="subscription_cycle", paid=False,
                               attempt=rng.choice([1, 2]), next_attempt=t // 1000)
            self._retry(sub, inv, t)

    def final_attempt(self, t_ms: int, *, crash: bool) -> tuple[_Ev, _Ev]:
        """The last dunning retry fails: invoice.payment_failed with no next attempt, then the
        subscription is cancelled immediately (Stripe's 'cancel the subscription' setting)."""
        rng = self.rng
        sub = self.new_sub(t_ms // 1000 - rng.randint(18, 24) * 86400, interval="month",
                           currency=rng.choice(["usd", "usd", "eur"]), kind="pro")
        sub.pre_shadow, sub.status = True, "past_due"
        inv = self.invoice(sub, sub.cps + 3600, reason="subscription_cycle", paid=False, attempt=4, next_attempt=None)
        failed = self.ev("invoice.payment_failed", t_ms, sub=sub, inv=inv, story="final-attempt")
        if crash:
            failed.cb_plan = "error"
            failed.divs.append(("error_in_shadow", "", R_FINAL_ATTEMPT, "", ""))
        sub.status = "canceled"
        sub.canceled_at = sub.ended_at = (t_ms + 3000) // 1000
        deleted = self.ev("customer.subscription.deleted", t_ms + rng.randint(2500, 6000), sub=sub,
                          story="final-attempt")
        return failed, deleted

    def _toggle_cape(self, sub: _Sub, t_ms: int) -> None:
        if sub.cape:
            pa = {"cancel_at": sub.cancel_at, "cancel_at_period_end": True, "canceled_at": sub.canceled_at}
            sub.cape, sub.cancel_at, sub.canceled_at = False, None, None
        else:
            pa = {"cancel_at": None, "cancel_at_period_end": False, "canceled_at": None}
            sub.cape, sub.cancel_at, sub.canceled_at = True, sub.cpe, t_ms // 1000
        self.ev("customer.subscription.updated", t_ms, sub=sub, pa=pa, story="cancel-toggle")

    def _change(self, sub: _Sub, t_ms: int, *, force: str | None = None) -> list[_Ev]:
        """A seat change (team plans) or a monthly -> yearly switch, with its proration invoice."""
        rng = self.rng
        out = []
        t_s = t_ms // 1000
        remaining = max(0.05, (sub.cpe - t_s) / max(1, sub.cpe - sub.cps))
        team = sub.items[0]["product_kind"] == "team"
        what = force or ("seats" if team else ("switch" if sub.interval == "month" and rng.random() < 0.6 else None))
        if what in ("seats", "seats_up"):
            item = sub.items[0]
            old = item["qty"]
            new = max(1, old + (rng.choice([1, 2, 3, 5]) if force == "seats_up" else rng.choice([-3, -2, -1, 1, 1, 2, 3, 5])))
            if new == old:
                new = old + 1
            pa = {"items": {"data": [{"id": item["id"], "quantity": old}]}}
            if len(sub.items) == 1:
                pa["quantity"] = old
            item["qty"] = new
            out.append(self.ev("customer.subscription.updated", t_ms, sub=sub, pa=pa, story="seats"))
            if new > old:
                amount = int(item["unit"] * (new - old) * remaining)
                if sub.currency not in ZERO_DECIMAL:
                    amount = max(100, amount)
                line = {"id": self.new_id("il_1", 23), "si": item["id"], "price": item["price"],
                        "product": item["product"], "unit": item["unit"], "qty": new - old, "amount": amount,
                        "proration": True, "start": t_s, "end": sub.cpe, "kind": item["product_kind"]}
                inv = self.invoice(sub, t_s + 2, reason="subscription_update", amount=amount, lines=[line])
                out.append(self.ev("invoice.payment_succeeded", t_ms + rng.randint(1500, 4000), sub=sub, inv=inv,
                                   story="seats"))
        elif what == "switch":
            old_items = copy.deepcopy(sub.items)
            pa = {"items": {"data": [{"id": i["id"], "price": {"id": i["price"], "recurring": {"interval": "month"}}}
                                     for i in old_items]},
                  "current_period_start": sub.cps, "current_period_end": sub.cpe}
            credit = int(sub.amount * remaining)
            sub.interval = "year"
            for item in sub.items:
                item["price"] = self.price_ids[(sub.currency, "year", item["product_kind"])]
                item["unit"] = PRICES[(sub.currency, "year", item["product_kind"])]
            sub.cps, sub.cpe = t_s, _next_period(t_s, "year")
            out.append(self.ev("customer.subscription.updated", t_ms, sub=sub, pa=pa, story="switch-to-yearly"))
            amount = sub.amount - credit
            lines = [{"id": self.new_id("il_1", 23), "si": i["id"], "price": i["price"], "product": i["product"],
                      "unit": i["unit"], "qty": i["qty"], "amount": i["unit"] * i["qty"], "proration": False,
                      "start": sub.cps, "end": sub.cpe, "kind": i["product_kind"]} for i in sub.items]
            lines.append({"id": self.new_id("il_1", 23), "si": sub.items[0]["id"], "price": old_items[0]["price"],
                          "product": old_items[0]["product"], "unit": old_items[0]["unit"], "qty": 1,
                          "amount": -credit, "proration": True, "start": t_s, "end": sub.cpe,
                          "kind": old_items[0]["product_kind"]})
            inv = self.invoice(sub, t_s + 2, reason="subscription_update", amount=amount, lines=lines)
            out.append(self.ev("invoice.payment_succeeded", t_ms + rng.randint(1500, 4000), sub=sub, inv=inv,
                               story="switch-to-yearly"))
        return out

    def _cancel_now(self, sub: _Sub, t_ms: int, *, refund: bool) -> list[_Ev]:
        sub.status = "canceled"
        sub.canceled_at = sub.ended_at = t_ms // 1000
        out = [self.ev("customer.subscription.deleted", t_ms, sub=sub, story="cancel-now")]
        if refund and sub.last_charge:
            out.append(self.refund(t_ms + self.rng.randint(20_000, 600_000), customer=sub.customer,
                                   currency=sub.currency, charge=sub.last_charge,
                                   partial=self.rng.random() < 0.4, story="cancel-now"))
        return out

    def signups(self, n: int) -> None:
        rng = self.rng
        for _ in range(n):
            t = self.diurnal_time(self.t0, self.t_end)
            flavour = rng.choices(["normal", "trial", "3ds"], [82, 10, 8])[0]
            evs = self.signup(t, flavour=flavour)
            sub_ev = evs[0]
            if rng.random() < 0.02:  # 30-day guarantee: cancelled and refunded within the week
                lo = t + 3_600_000
                hi = _ms(PENDING_START) - 120_000
                if lo < hi and flavour != "trial":
                    sub = self._sub_from(sub_ev)
                    self._cancel_now(sub, self.rng.randrange(lo, hi), refund=True)

    def _sub_from(self, e: _Ev) -> _Sub:
        s = copy.deepcopy(e.sub)
        sub = _Sub(**{k: v for k, v in s.items()})
        sub.status = "active"
        inv = next((x.inv for x in reversed(self.events) if x.inv and x.inv["subscription"] == sub.id), None)
        if inv and inv["amount_paid"]:
            sub.last_charge = {"id": inv["charge"], "amount": inv["amount_paid"], "invoice": inv["id"],
                               "payment_intent": inv["payment_intent"], "created": inv["created"]}
        return sub


# -- values on both sides --------------------------------------------------------------


def _cb_outcome(e: _Ev) -> dict[str, Any]:
    t = e.type
    if t.startswith("customer.subscription."):
        s = e.sub
        o = {"status": s["status"], "customer_id": s["customer"], "subscription_id": s["id"],
             "quantity": sum(i["qty"] for i in s["items"]), "interval": s["interval"],
             "amount": sum(i["unit"] * i["qty"] for i in s["items"]), "currency": s["currency"],
             "current_period_end": s["cpe"], "cancel_at_period_end": s["cape"]}
    elif t.startswith("invoice."):
        i = e.inv
        o = {"status": i["status"], "customer_id": i["customer"], "subscription_id": i["subscription"],
             "amount": i["amount_paid"] if i["status"] == "paid" else i["amount_due"], "currency": i["currency"]}
    elif t == "checkout.session.completed":
        c = e.cs
        o = {"status": "complete", "customer_id": c["customer"], "subscription_id": c["subscription"],
             "amount": c["amount_total"], "currency": c["currency"]}
    elif t == "charge.refunded":
        c = e.ch
        o = {"status": "refunded" if c["refunded"] else "partially_refunded", "customer_id": e.customer,
             "amount": c["amount_refunded"], "currency": e.currency}
    else:
        o = {"customer_id": e.customer}
    for key in e.cb_drop:
        o.pop(key, None)
    o.update(e.cb_override)
    return o


def _rails_values(e: _Ev) -> dict[str, Any]:
    t = e.type
    row: dict[str, Any] = {"stripe_event_id": e.id, "event_type": t, "status": None, "customer_id": e.customer,
                           "subscription_id": None, "quantity": None, "plan_interval": None, "amount": None,
                           "currency": None, "current_period_end": None, "cancel_at_period_end": None}
    if t.startswith("customer.subscription."):
        s = e.sub
        cpe = s["cpe"]
        if t.endswith(".deleted") and s.get("ended_at"):
            cpe = s["ended_at"]  # Rails ends access at ended_at (rails-cancel-overwrites-period-end)
        row.update(status=s["status"], subscription_id=s["id"], quantity=sum(i["qty"] for i in s["items"]),
                   plan_interval=s["interval"],
                   amount=_major(sum(i["unit"] * i["qty"] for i in s["items"]), s["currency"]),
                   currency=s["currency"].upper(), current_period_end=_naive(cpe * 1000),
                   cancel_at_period_end=int(bool(s["cape"])))
    elif t.startswith("invoice."):
        i = e.inv
        amount = i["amount_paid"] if i["status"] == "paid" else i["amount_due"]
        row.update(status=i["status"], subscription_id=i["subscription"], amount=_major(amount, i["currency"]),
                   currency=i["currency"].upper())
    elif t == "checkout.session.completed":
        c = e.cs
        row.update(status="complete", subscription_id=c["subscription"], amount=_major(c["amount_total"], c["currency"]),
                   currency=c["currency"].upper())
    elif t == "charge.refunded":
        c = e.ch
        row.update(status="refunded", amount=_major(c["amount_refunded"], e.currency), currency=e.currency.upper())
    row.update(e.rails_override)
    return row


# -- Stripe payloads (shaped like shared/fixtures/stripe-events) ---------------------------


def _price_obj(item: dict, currency: str, interval: str, t_s: int) -> dict:
    return {"id": item["price"], "object": "price", "active": True, "billing_scheme": "per_unit",
            "created": t_s - 300 * 86400, "currency": currency, "livemode": True, "lookup_key": None,
            "metadata": {}, "nickname": None, "product": item["product"],
            "recurring": {"aggregate_usage": None, "interval": interval, "interval_count": 1,
                          "trial_period_days": None, "usage_type": "licensed"},
            "tax_behavior": "exclusive", "tiers_mode": None, "type": "recurring",
            "unit_amount": item["unit"], "unit_amount_decimal": str(item["unit"])}


def _plan_obj(item: dict, currency: str, interval: str, t_s: int) -> dict:
    return {"id": item["price"], "object": "plan", "active": True, "amount": item["unit"],
            "amount_decimal": str(item["unit"]), "billing_scheme": "per_unit", "created": t_s - 300 * 86400,
            "currency": currency, "interval": interval, "interval_count": 1, "livemode": True,
            "nickname": None, "product": item["product"], "usage_type": "licensed"}


def _subscription_obj(s: dict, basil: bool) -> dict:
    items = []
    for it in s["items"]:
        item = {"id": it["id"], "object": "subscription_item", "created": it["created"], "discounts": [],
                "metadata": {}, "price": _price_obj(it, s["currency"], s["interval"], s["created"]),
                "quantity": it["qty"], "subscription": s["id"], "tax_rates": []}
        if basil:
            item["current_period_start"], item["current_period_end"] = s["cps"], s["cpe"]
        else:
            item["plan"] = _plan_obj(it, s["currency"], s["interval"], s["created"])
        items.append(item)
    o = {"id": s["id"], "object": "subscription", "application": None, "automatic_tax": {"enabled": False},
         "billing_cycle_anchor": s["cps"], "cancel_at": s["cancel_at"], "cancel_at_period_end": s["cape"],
         "canceled_at": s["canceled_at"], "collection_method": "charge_automatically", "created": s["created"],
         "currency": s["currency"], "customer": s["customer"], "default_payment_method": s["default_pm"],
         "description": None, "discounts": [], "ended_at": s["ended_at"],
         "items": {"object": "list", "data": items, "has_more": False, "total_count": len(items),
                   "url": f"/v1/subscription_items?subscription={s['id']}"},
         "latest_invoice": s["latest_invoice"], "livemode": s["livemode"], "metadata": {},
         "pause_collection": None, "schedule": None, "start_date": s["created"], "status": s["status"],
         "trial_end": s["trial_end"], "trial_start": s["trial_start"]}
    if basil:
        o["cancellation_details"] = {"comment": None, "feedback": None,
                                     "reason": "cancellation_requested" if s["canceled_at"] else None}
    else:
        o["current_period_start"], o["current_period_end"] = s["cps"], s["cpe"]
        if len(s["items"]) == 1:
            o["plan"] = items[0]["plan"]
            o["quantity"] = s["items"][0]["qty"]
        else:
            o["plan"], o["quantity"] = None, None
    return o


def _invoice_obj(i: dict, email: str, basil: bool) -> dict:
    lines = []
    for ln in i["lines"]:
        line = {"id": ln["id"], "object": "line_item", "amount": ln["amount"], "currency": i["currency"],
                "description": f"{ln['qty']} × {PRODUCT_NAMES[ln['kind']]}" + (" (proration)" if ln["proration"] else ""),
                "discountable": True, "invoice": i["id"], "livemode": i["livemode"], "metadata": {},
                "period": {"end": ln["end"], "start": ln["start"]}, "quantity": ln["qty"]}
        if basil:
            line["parent"] = {"invoice_item_details": None, "type": "subscription_item_details",
                              "subscription_item_details": {"invoice_item": None, "proration": ln["proration"],
                                                            "proration_details": {"credited_items": None},
                                                            "subscription": i["subscription"],
                                                            "subscription_item": ln["si"]}}
            line["pricing"] = {"price_details": {"price": ln["price"], "product": ln["product"]},
                               "type": "price_details", "unit_amount_decimal": str(ln["unit"])}
        else:
            line.update(type="subscription", proration=ln["proration"], subscription=i["subscription"],
                        subscription_item=ln["si"],
                        price={"id": ln["price"], "object": "price", "currency": i["currency"], "product": ln["product"],
                               "unit_amount": ln["unit"], "type": "recurring"})
        lines.append(line)
    paid = i["status"] == "paid"
    o = {"id": i["id"], "object": "invoice", "account_country": "US", "account_name": "egghead.io",
         "amount_due": i["amount_due"], "amount_paid": i["amount_paid"],
         "amount_remaining": 0 if paid else i["amount_due"], "attempt_count": i["attempt_count"], "attempted": True,
         "auto_advance": not paid, "billing_reason": i["billing_reason"], "collection_method": "charge_automatically",
         "created": i["created"], "currency": i["currency"], "customer": i["customer"], "customer_email": email,
         "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_1EGGHEAD/{i['id']}",
         "lines": {"object": "list", "data": lines, "has_more": False, "total_count": len(lines),
                   "url": f"/v1/invoices/{i['id']}/lines"},
         "livemode": i["livemode"], "metadata": {}, "next_payment_attempt": i["next_payment_attempt"],
         "number": i["number"], "period_end": i["period_end"], "period_start": i["period_start"],
         "status": i["status"], "subtotal": i["amount_due"], "total": i["amount_due"]}
    if basil:
        o["parent"] = {"quote_details": None, "type": "subscription_details",
                       "subscription_details": {"metadata": {}, "subscription": i["subscription"]}}
    else:
        o.update(subscription=i["subscription"], paid=paid, charge=i["charge"] if paid else None,
                 payment_intent=i["payment_intent"])
    return o


def _checkout_obj(c: dict, email: str, livemode: bool) -> dict:
    return {"id": c["id"], "object": "checkout.session", "amount_subtotal": c["amount_total"],
            "amount_total": c["amount_total"], "cancel_url": "https://egghead.io/pricing", "created": c["created"],
            "currency": c["currency"], "customer": c["customer"], "customer_creation": "always",
            "customer_details": {"email": email, "name": None, "tax_exempt": "none"}, "customer_email": email,
            "expires_at": c["created"] + 86400, "invoice": c["invoice"], "livemode": livemode, "locale": None,
            "metadata": {}, "mode": c["mode"], "payment_intent": c["payment_intent"], "payment_status": "paid",
            "status": "complete", "subscription": c["subscription"],
            "success_url": "https://egghead.io/confirm?session_id={CHECKOUT_SESSION_ID}",
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}, "url": None}


def _charge_obj(c: dict, customer: str | None, currency: str, livemode: bool) -> dict:
    return {"id": c["id"], "object": "charge", "amount": c["amount"], "amount_captured": c["amount"],
            "amount_refunded": c["amount_refunded"], "balance_transaction": "txn_" + c["id"][4:],
            "billing_details": {"email": None, "name": None}, "captured": True, "created": c["created"],
            "currency": currency, "customer": customer, "description": None, "disputed": False,
            "invoice": c.get("invoice"), "livemode": livemode, "metadata": {}, "paid": True,
            "payment_intent": c.get("payment_intent"),
            "payment_method_details": {"card": {"brand": "visa", "country": "US", "exp_month": 4, "exp_year": 2029,
                                                "funding": "credit", "last4": "4242"}, "type": "card"},
            "receipt_url": f"https://pay.stripe.com/receipts/{c['id']}", "refunded": c["refunded"],
            "status": "succeeded"}


def _payload(e: _Ev, emails: dict[str, str], rng: random.Random) -> dict:
    basil = e.t_ms >= _ms(BASIL_FROM)
    email = emails.get(e.customer or "", "learner@example.com")
    pa = e.pa
    if e.type.startswith("customer.subscription."):
        obj = _subscription_obj(e.sub, basil)
    elif e.type.startswith("invoice."):
        obj = _invoice_obj(e.inv, email, basil)
    elif e.type == "checkout.session.completed":
        obj = _checkout_obj(e.cs, email, e.livemode)
    elif e.type == "charge.refunded":
        obj = _charge_obj(e.ch, e.customer, e.currency, e.livemode)
        pa = {"amount_refunded": 0, "refunded": False}
    else:
        obj = {"id": e.customer, "object": "customer", "email": email, "livemode": e.livemode}
    data: dict[str, Any] = {"object": obj}
    if pa is not None:
        data["previous_attributes"] = pa
    payload = {"id": e.id, "object": "event", "api_version": API_BASIL if basil else API_OLD,
               "created": e.created_s, "data": data, "livemode": e.livemode, "pending_webhooks": 2,
               "request": {"id": None, "idempotency_key": None}, "type": e.type}
    if e.type in ("customer.subscription.updated", "customer.subscription.deleted") and e.story in ("cancel-toggle", "seats", "switch-to-yearly", "cancel-now"):
        payload["request"] = {"id": "req_" + "".join(rng.choice(ALNUM) for _ in range(14)),
                              "idempotency_key": "stripe-node-retry-" + "".join(rng.choice("0123456789abcdef") for _ in range(12))}
    if e.account:
        payload["account"] = e.account
    return payload


# -- building the week -------------------------------------------------------------------


def build_week(seed: int = DEFAULT_SEED) -> Week:
    g = _Gen(seed)
    rng = g.rng

    # Baseline traffic.
    g.existing(4300)
    g.dunning(36)
    g.signups(560)
    for _ in range(60):
        e = g.one_off(g.diurnal_time(g.t0, g.t_end))
        if rng.random() < 0.12:
            t = e.t_ms + rng.randint(3_600_000, 3 * 86_400_000)
            if t < _ms(PENDING_START) - 120_000 and e.zone == "window":
                g.refund(t, customer=e.customer, currency=e.currency,
                         charge={"id": e.ch["id"], "amount": e.ch["amount"], "invoice": None,
                                 "payment_intent": e.ch["payment_intent"], "created": e.created_s}, partial=False)

    early = (WINDOW_START + timedelta(hours=1), CLEAN_FROM - timedelta(minutes=30))

    def early_t(before: datetime | None = None, after: datetime | None = None, exclude_rollout=False) -> int:
        lo = _ms(after or early[0])
        hi = _ms(min(before or early[1], early[1]))
        while True:
            t = g.diurnal_time(lo, hi)
            if exclude_rollout and _ms(BASIL_FROM) - 600_000 <= t < _ms(ROLLOUT_END) + 600_000:
                continue
            return t

    # T1: invoice.payment_succeeded before the checkout: CB has no subscription yet.
    for _ in range(9):
        t = early_t(exclude_rollout=True)
        sub = g.new_sub(t // 1000, currency=rng.choice(["usd", "usd", "usd", "eur"]), kind="pro")
        evs = g.signup(t, flavour="race", sub=sub, story="signup/race")
        inv = next(x for x in evs if x.type == "invoice.payment_succeeded")
        inv.cb_override["subscription_id"] = None
        inv.payload = "never"
        inv.divs.append(("value_mismatch", "subscription", R_INVOICE_RACE, "", ""))

    # T2: a status change lands within Rails' 5 s re-read.
    for _ in range(3):  # incomplete -> active (3DS completed 2 s later)
        t = early_t()
        sub = g.new_sub(t // 1000, kind="pro", currency=rng.choice(["usd", "eur"]))
        evs = g.signup(t, flavour="t2_incomplete", sub=sub, story="signup/3ds")
        first = next(x for x in evs if x.story.endswith("/t2"))
        first.rails_override["status"] = "active"
        first.divs.append(("value_mismatch", "status", R_STATUS_REREAD, "", ""))
    for _ in range(2):  # past_due -> active (card updated in the billing portal, invoice paid at once)
        t = early_t()
        sub = g.new_sub(t // 1000 - 6 * 86400, kind="pro", interval="month")
        sub.pre_shadow, sub.status = True, "past_due"
        inv = g.invoice(sub, sub.cps + 3600, reason="subscription_cycle", paid=False, attempt=1,
                        next_attempt=sub.cps + 3 * 86400)
        first = g.ev("customer.subscription.updated", t, sub=sub, pa={"default_payment_method": g.new_id("pm_1", 23)},
                     story="portal-card-update")
        first.rails_override["status"] = "active"
        first.divs.append(("value_mismatch", "status", R_STATUS_REREAD, "", ""))
        paid = dict(inv, status="paid", amount_paid=inv["amount_due"], attempt_count=2, next_payment_attempt=None)
        g.ev("invoice.payment_succeeded", t + rng.randint(1200, 2000), sub=sub, inv=paid, story="portal-card-update")
        sub.status = "active"
        g.ev("customer.subscription.updated", t + rng.randint(2100, 3200), sub=sub, pa={"status": "past_due"},
             story="portal-card-update")
    for _ in range(2):  # trialing -> active (card added seconds before the trial ends)
        t = early_t()
        sub = g.new_sub(t // 1000 - 14 * 86400, kind="pro", interval="month", currency="usd")
        sub.status, sub.trial_start, sub.trial_end = "trialing", sub.created, t // 1000 + 2
        sub.cps, sub.cpe, sub.pre_shadow = sub.created, sub.trial_end, True
        first = g.ev("customer.subscription.updated", t, sub=sub, pa={"default_payment_method": None},
                     story="trial-card-added")
        first.rails_override["status"] = "active"
        first.divs.append(("value_mismatch", "status", R_STATUS_REREAD, "", ""))
        g._renewal(sub, t + 1500)

    # B1: multi-item subscriptions signed up before the quantity fix (their renewals and seat changes
    # before the fix diverge too, see _apply_time_bugs).
    for _ in range(3):
        t = early_t(before=FIX_QUANTITY - timedelta(hours=1))
        sub = g.new_sub(t // 1000, kind="multi", currency="usd")
        g.signup(t, sub=sub, story="signup/team")
    # B2: JPY seat additions before the fix: proration invoices.
    for _ in range(4):
        t = early_t(before=FIX_JPY - timedelta(hours=1))
        sub = g.new_sub(t // 1000 - 10 * 86400, kind="team", currency="jpy", interval="month")
        sub.pre_shadow = True
        sub.items[0]["qty"] = rng.randint(3, 9)
        g._change(sub, t, force="seats_up")
    # B3: the final dunning attempt crashes CB before the fix; after it, handled.
    for _ in range(5):
        g.final_attempt(early_t(before=FIX_FINAL_ATTEMPT - timedelta(hours=1)), crash=True)
    g.final_attempt(early_t(after=FIX_FINAL_ATTEMPT + timedelta(hours=1)), crash=False)
    g.final_attempt(g.uniform(LAST24_START + timedelta(hours=2), PENDING_START - timedelta(hours=1)), crash=False)

    # B6 / E5: Connect and test-mode events that only CB receives.
    for when in (early_t(before=FIX_CONNECT - timedelta(hours=2)), early_t(before=FIX_CONNECT - timedelta(hours=2))):
        acct = g.new_id("acct_1", 15)
        for x in g.signup(when, story="connect", account=acct):
            x.rails, x.payload = "none", "force"
            x.divs.append(("missing_in_legacy", "", R_CONNECT, "", ""))
    for when in (early_t(after=FIX_CONNECT + timedelta(hours=1)),
                 g.uniform(LAST24_START + timedelta(hours=3), PENDING_START - timedelta(hours=1))):
        acct = g.new_id("acct_1", 15)
        for x in g.signup(when, story="connect/skipped", account=acct):
            x.rails, x.payload, x.cb_plan = "none", "force", "skipped"
    for when in (early_t(), early_t(), g.uniform(LAST24_START + timedelta(hours=1), PENDING_START - timedelta(hours=1))):
        for x in g.signup(when, story="test-mode", livemode=False):
            x.rails, x.payload = "none", "force"
            x.divs.append(("missing_in_legacy", "", R_TEST_MODE, "", ""))

    # B7: CB skipped updates of subscriptions it had not backfilled yet; Rails processed them.
    for _ in range(3):
        t = early_t(before=BACKFILL_DONE - timedelta(hours=1))
        sub = g.new_sub(t // 1000 - rng.randint(1, 25) * 86400, kind="pro", interval="month")
        sub.pre_shadow, sub.created = True, sub.cps - rng.randint(120, 400) * 86400
        g._toggle_cape(sub, t)
        x = g.events[-1]
        x.cb_plan = "skipped"
        x.divs.append(("missing_in_shadow", "", R_SKIP_UNKNOWN, "skipped", ""))

    # B10 (unexplained): a monthly -> yearly switch where CB logs the old interval.
    t = early_t()
    sub = g.new_sub(t // 1000 - 12 * 86400, kind="pro", interval="month", currency="usd")
    sub.pre_shadow = True
    evs = g._change(sub, t, force="switch")
    evs[0].cb_override["interval"] = "month"
    evs[0].divs.append(("value_mismatch", "interval", None, "", ""))

    # Explicit expected differences inside the last 24 h (besides the baseline's).
    for _ in range(3):
        t = g.uniform(LAST24_START + timedelta(minutes=30), PENDING_START - timedelta(minutes=30))
        sub = g.new_sub(t // 1000 - 9 * 86400, kind="pro")
        sub.last_charge = {"id": g.new_id("ch_3", 23), "amount": sub.amount, "invoice": g.new_id("in_1", 23),
                           "payment_intent": g.new_id("pi_3", 23), "created": sub.cps + 3600}
        g.refund(t, customer=sub.customer, currency=sub.currency, charge=sub.last_charge, partial=True)
    for _ in range(2):
        t = g.uniform(LAST24_START + timedelta(minutes=30), PENDING_START - timedelta(minutes=30))
        sub = g.new_sub(t // 1000 - 11 * 86400, kind="pro")
        g._cancel_now(sub, t, refund=False)

    # Lead-in edge cases: an invoice whose Rails row lands inside the window, a retry inside it.
    sub = g.new_sub(_ms(WINDOW_START) // 1000 - 86400 * 20, kind="pro", currency="usd", interval="month")
    inv = g.invoice(sub, _ms(WINDOW_START) // 1000 - 30, reason="subscription_cycle")
    edge_invoice = g.ev("invoice.payment_succeeded", _ms(WINDOW_START) - 25_000, sub=sub, inv=inv, story="edge")
    sub2 = g.new_sub(_ms(WINDOW_START) // 1000 - 86400 * 17, kind="pro", currency="usd")
    edge_retry = g.ev("customer.subscription.updated", _ms(WINDOW_START) - 180_000, sub=sub2,
                      pa={"cancel_at_period_end": True}, story="edge")
    edge_retry.cb_plan = "retry"

    # Pending: the last 10 minutes always hold a few events (not compared; an invoice's Rails row
    # is not even written yet at as_of).
    g.signup(_ms(WINDOW_END) - 95_000, story="signup/pending")
    g.signup(_ms(PENDING_START) + 140_000, flavour="trial", story="signup/pending")
    sub = g.new_sub(_ms(WINDOW_END) // 1000 - 40 * 86400, kind="pro", currency="eur")
    g._toggle_cape(sub, _ms(PENDING_START) + 310_000)

    _apply_time_bugs(g)
    _pick_injections(g, edge_retry, edge_invoice)
    _pick_noise(g)

    entries, rows, by_id = _materialise(g, edge_retry, edge_invoice)
    truth = _truth(g, by_id)
    week = Week(seed=seed, entries=entries, legacy_rows=rows, truth=truth, window_start=WINDOW_START,
                window_end=WINDOW_END, as_of=WINDOW_END)
    week.events = {e.id: {"type": e.type, "zone": e.zone, "story": e.story, "cb_plan": e.cb_plan, "rails": e.rails,
                          "divs": list(e.divs), "cb_ms": e.cb_ms, "mode": e.mode, "malformed": e.malformed}
                   for e in g.events}
    week.summary = _summary(g, week, by_id)
    _self_check(g, week, by_id)
    return week


def _apply_time_bugs(g: _Gen) -> None:
    """Divergences that follow from CB's state during the week rather than from one story."""
    for e in g.events:
        if e.zone != "window" or e.divs or e.mode != "shadow":
            continue
        t = e.cb_ms
        if e.type in SUB_TYPES and len(e.sub["items"]) > 1 and t < _ms(FIX_QUANTITY):
            e.cb_override["quantity"] = e.sub["items"][0]["qty"]   # EGG-2141: first item only
            e.divs.append(("value_mismatch", "quantity", R_MULTI_QTY, "", ""))
        if (e.type.startswith("invoice.") and e.currency == "jpy" and e.inv["billing_reason"] == "subscription_update"
              and t < _ms(FIX_JPY)):
            amount = e.inv["amount_paid"] if e.inv["status"] == "paid" else e.inv["amount_due"]
            e.cb_override["amount"] = amount * 100                   # EGG-2150: JPY treated as two-decimal
            e.payload = "force"
            e.divs.append(("value_mismatch", "amount", R_JPY, "", ""))
        if e.type == "charge.refunded" and not e.ch["refunded"]:
            e.divs.append(("value_mismatch", "status", R_PARTIAL_REFUND, "", ""))
        if e.type == "customer.subscription.deleted" and e.sub["ended_at"] != e.sub["cpe"]:
            e.divs.append(("value_mismatch", "current_period_end", R_CANCEL_PERIOD_END, "", ""))
    for e in g.events:
        # The basil rollout: CB's outcome misses fields the payload carries (first present wins).
        if e.mode == "shadow" and _ms(BASIL_FROM) <= e.t_ms < _ms(ROLLOUT_END) and e.payload != "never":
            if e.type in SUB_TYPES:
                e.cb_drop, e.payload = ("current_period_end",), "force"
            elif e.type.startswith("invoice.") and e.inv["subscription"]:
                e.cb_drop, e.payload = ("subscription_id",), "force"
    # Lead-in / pending events carry no divergence at all (see README): keep them plain.
    for e in g.events:
        if e.zone != "window" and (e.type == "charge.refunded" and not e.ch["refunded"]):
            e.ch["amount_refunded"], e.ch["refunded"] = e.ch["amount"], True
        if e.zone != "window" and e.type == "customer.subscription.deleted" and e.sub["ended_at"] != e.sub["cpe"]:
            raise AssertionError(f"immediate cancellation outside the compared window: {e.id}")


def _eligible(e: _Ev, lo: datetime, hi: datetime) -> bool:
    return (e.zone == "window" and not e.divs and e.cb_plan == "normal" and e.rails == "row" and e.mode == "shadow"
            and e.livemode and not e.account and _ms(lo) <= e.cb_ms < _ms(hi) and e.payload != "force"
            and not (_ms(BASIL_FROM) <= e.t_ms < _ms(ROLLOUT_END)))


def _pick_injections(g: _Gen, *edges: _Ev) -> None:
    rng = g.rng
    lo, hi = WINDOW_START + timedelta(hours=1), CLEAN_FROM - timedelta(minutes=30)
    # B8: a Redis failover lost every CB stream write for some minutes (all events CB received then).
    # The outage is placed from REDIS_FAILOVER on where it swallows 3-5 plain events and no
    # subscription update (whose skipped variant another rule documents).
    during = sorted((e for e in g.events if e.zone == "window"
                     and _ms(REDIS_FAILOVER) <= e.cb_ms < _ms(REDIS_FAILOVER) + 6 * 3_600_000), key=lambda x: x.cb_ms)
    length = 15 * 60_000
    for cand in during:
        lo_out = cand.cb_ms - 20_000
        inside = [e for e in g.events if lo_out <= e.cb_ms < lo_out + length]
        if 3 <= len(inside) <= 5 and all(_eligible(e, WINDOW_START, CLEAN_FROM)
                                         and e.type != "customer.subscription.updated" for e in inside):
            break
    else:
        raise AssertionError("no place for the Redis failover")
    g.outage = (lo_out, lo_out + length)
    for e in inside:
        e.cb_plan = "none"
        e.divs.append(("missing_in_shadow", "", R_LOST_LOG, "", ""))
    # B4: Stripe's retry arrives after CB's 1 h dedup key expired: processed twice.
    pool = [e for e in g.events if _eligible(e, lo, hi) and e.type in
            ("customer.subscription.updated", "customer.subscription.created", "checkout.session.completed")]
    for e in rng.sample(pool, 4):
        e.cb_plan = "cb_dup"
        e.divs.append(("duplicate_processing", "", R_CB_DUP, "", "cb"))
    # B5: a Sidekiq job run twice by Rails.
    pool = [e for e in g.events if _eligible(e, lo, hi) and e.type == "invoice.payment_succeeded"]
    e = rng.choice(pool)
    e.rails = "dup"
    e.divs.append(("duplicate_processing", "", R_RAILS_DUP, "", "rails"))
    # B9: Rails' refund receipt mailer timed out after the row was written.
    pool = [e for e in g.events if _eligible(e, lo, hi) and e.type == "charge.refunded" and e.ch["refunded"]]
    e = rng.choice(pool)
    e.rails_error = RAILS_MAILER_ERROR
    e.divs.append(("error_in_legacy", "", R_RAILS_MAILER, "", ""))
    # Harmless noise: Stripe retries (dedup hit) and transient CB errors recovered by a retry.
    for e in g.events:
        if e.cb_plan != "normal" or e.divs or e.mode != "shadow" or e.zone == "pending" or any(e is x for x in edges):
            continue
        roll = rng.random()
        if roll < 0.035:
            e.cb_plan = "retry"
        elif roll < 0.047 and e.cb_ms + 1_300_000 < g.t_end:
            e.cb_plan = "transient"


def _pick_noise(g: _Gen) -> None:
    """Entries that are not divergences: ignored types, primary-mode entries, malformed entries."""
    rng = g.rng
    lo_out, hi_out = g.outage
    window_events = [e for e in g.events if e.zone == "window" and e.mode == "shadow"
                     and e.cb_ms < _ms(PENDING_START) - 60_000 and not lo_out - 60_000 <= e.cb_ms < hi_out + 60_000]
    invoices = [e for e in window_events if e.type == "invoice.payment_succeeded" and e.cb_plan == "normal"]
    recent = [e for e in invoices if e.cb_ms >= _ms(LAST24_START)]
    picked = rng.sample(recent, 2)
    picked += rng.sample([e for e in invoices if not any(e is p for p in picked)], 7)
    for e in picked:
        paid = g.ev("invoice.paid", e.t_ms + rng.randint(200, 900), inv=e.inv, customer=e.customer,
                    currency=e.currency, story="ignored")
        paid.cb_plan, paid.rails = "skipped", "none"
    signups = [e for e in window_events if e.type == "customer.subscription.created" and e.story == "signup"]
    for e in rng.sample(signups, 4):
        cc = g.ev("customer.created", e.t_ms - rng.randint(1500, 4000), customer=e.customer, currency=e.currency,
                  story="ignored")
        cc.cb_plan, cc.rails = "skipped", "none"
    # A canary: CB ran as primary for the internal staff account for half an hour on Nov 27.
    t = _ms(datetime(2026, 11, 27, 14, 5, tzinfo=UTC))
    sub = g.new_sub(t // 1000 - 20 * 86400, kind="pro", currency="usd", customer=g.customer())
    for i in range(5):
        sub.cape = not sub.cape
        x = g.ev("customer.subscription.updated", t + i * 360_000 + rng.randint(0, 60_000), sub=sub,
                 pa={"cancel_at_period_end": not sub.cape}, story="primary-canary")
        x.mode, x.rails = "primary", "none"
    # Malformed entries: the engine must report them, not compare them.
    specs = [
        (datetime(2026, 11, 25, 13, 41, 7, tzinfo=UTC), "customer.subscription.updated", "outcome is not JSON (truncated)"),
        (datetime(2026, 11, 26, 20, 2, 51, tzinfo=UTC), "invoice.payment_succeeded", "missing stripe_event_id"),
        (datetime(2026, 11, 27, 6, 30, 12, tzinfo=UTC), "invoice.payment_succeeded", "outcome is not UTF-8"),
        (datetime(2026, 11, 30, 16, 18, 40, tzinfo=UTC), "checkout.session.completed", "empty stripe_event_id"),
    ]
    for when, type_, reason in specs:
        t = _ms(when)
        sub = g.new_sub(t // 1000 - 9 * 86400, kind="pro", currency="usd")
        if type_.startswith("invoice."):
            x = g.ev(type_, t, sub=sub, inv=g.invoice(sub, t // 1000, reason="subscription_cycle"), story="malformed")
        elif type_ == "checkout.session.completed":
            cs = {"id": g.new_id("cs_live_a1", 48), "mode": "subscription", "customer": sub.customer,
                  "subscription": sub.id, "amount_total": sub.amount, "currency": sub.currency, "invoice": None,
                  "payment_intent": None, "created": t // 1000 - 60}
            x = g.ev(type_, t, sub=sub, cs=cs, story="malformed")
        else:
            x = g.ev(type_, t, sub=sub, pa={"cancel_at_period_end": True}, story="malformed")
        x.rails, x.malformed = "none", reason


# -- entries and rows ------------------------------------------------------------------


def _duration(rng: random.Random, type_: str) -> int:
    median = {"checkout.session.completed": 70, "customer.subscription.created": 95,
              "customer.subscription.updated": 55, "customer.subscription.deleted": 45,
              "invoice.payment_succeeded": 120, "invoice.payment_failed": 100, "charge.refunded": 60}.get(type_, 25)
    value = median * math.exp(rng.gauss(0, 0.55))
    if rng.random() < 0.02:
        value *= rng.uniform(3, 9)
    return max(4, int(round(value)))


def _materialise(g: _Gen, edge_retry: _Ev, edge_invoice: _Ev):
    rng = g.rng
    deliveries: list[tuple[int, int, list[tuple[str, Any]]]] = []   # (ms, order, fields)
    rows: list[dict[str, Any]] = []
    order = 0
    payload_cache: dict[str, str] = {}

    def payload_for(e: _Ev) -> str | None:
        if e.payload == "never":
            return None
        if e.id not in payload_cache:
            payload_cache[e.id] = _dumps(_payload(e, g.emails, rng))
        return payload_cache[e.id]

    for e in sorted(g.events, key=lambda x: (x.cb_ms, x.id)):
        attach = e.payload == "force" or (e.payload == "sample" and rng.random() < 0.05)
        if e.cb_plan in ("error", "transient"):
            attach = attach or e.payload != "never"
        outcome = _dumps(_cb_outcome(e)) if e.type in CONFIG_TYPES else ""
        plan: list[tuple[int, str, str, int, str]] = []  # (ms, result, dedup, duration, error)
        t1 = e.cb_ms
        if e.cb_plan == "none":
            plan = []
        elif e.cb_plan == "skipped":
            plan = [(t1, "skipped", "miss", max(2, _duration(rng, "") // 4), "")]
        elif e.cb_plan == "error":
            t = t1
            for _ in range(rng.randint(1, 3)):
                plan.append((t, "error", "miss", rng.randint(30, 160), FINAL_ATTEMPT_ERROR))
                t += rng.randint(60_000, 900_000)
        elif e.cb_plan == "transient":
            plan = [(t1, "error", "miss", rng.randint(5000, 10000), rng.choice(TRANSIENT_ERRORS)),
                    (t1 + rng.randint(60_000, 1_200_000), "processed", "miss", _duration(rng, e.type), "")]
        elif e.cb_plan == "cb_dup":
            plan = [(t1, "processed", "miss", rng.randint(10_500, 14_000), ""),
                    (t1 + DEDUP_TTL_MS + rng.randint(300_000, 7_200_000), "processed", "miss", _duration(rng, e.type), "")]
        elif e.cb_plan == "retry":
            plan = [(t1, "processed", "miss", _duration(rng, e.type) + rng.randint(0, 2000), "")]
            t = t1
            for _ in range(1 if e is edge_retry else rng.choice([1, 1, 1, 2])):
                t += rng.randint(60_000, 900_000) if e is not edge_retry else 420_000
                plan.append((t, "duplicate", "hit", rng.randint(2, 12), ""))
        else:
            plan = [(t1, "processed", "miss", _duration(rng, e.type), "")]
        plan = [p for p in plan if p[0] < g.t_end - 200]
        if e.cb_plan == "cb_dup" and len(plan) < 2:
            raise AssertionError(f"dedup retry after as_of for {e.id}")
        for ms, result, dedup, duration, error in plan:
            fields: list[tuple[str, Any]] = []
            if e.malformed == "missing stripe_event_id":
                pass
            elif e.malformed == "empty stripe_event_id":
                fields.append(("stripe_event_id", ""))
            else:
                fields.append(("stripe_event_id", e.id))
            fields += [("event_type", e.type), ("stripe_created", str(e.created_s)), ("received_at", _iso_ms(ms)),
                       ("result", result), ("duration_ms", str(duration)), ("dedup", dedup), ("error", error)]
            out = outcome if result in ("processed", "duplicate") else ""
            if e.malformed == "outcome is not JSON (truncated)":
                out = outcome[: len(outcome) // 2]
            elif e.malformed == "outcome is not UTF-8":
                out = outcome.encode()[:30] + b"\xff\xfe\x92" + outcome.encode()[30:]
            fields.append(("outcome", out))
            if attach:
                p = payload_for(e)
                if p is not None:
                    fields.append(("payload", p))
            fields.append(("mode", e.mode))
            deliveries.append((ms, order, fields))
            order += 1
        # Rails
        if e.rails in ("row", "dup"):
            delay = {"customer.subscription.updated": 5000 + rng.randint(40, 400),
                     "invoice.payment_succeeded": 60_000 + rng.randint(50, 700)}.get(e.type, rng.randint(200, 2000))
            at = e.rails_ms + delay
            if at <= g.t_end:
                row = _rails_values(e)
                e.processed_ms = at
                row.update(processed_at=_naive(at), duration_ms=int(140 * math.exp(rng.gauss(0, 0.5))),
                           error=e.rails_error)
                rows.append(row)
                if e.rails == "dup":
                    again = dict(row)
                    again.update(processed_at=_naive(at + rng.randint(300_000, 330_000)),
                                 duration_ms=int(140 * math.exp(rng.gauss(0, 0.5))))
                    rows.append(again)
    deliveries.sort(key=lambda d: (d[0], d[1]))
    entries: list[StreamEntry] = []
    by_id: dict[str, list[StreamEntry]] = defaultdict(list)
    last_ms, seq = -1, 0
    for ms, _, fields in deliveries:
        seq = seq + 1 if ms == last_ms else 0
        last_ms = ms
        raw = tuple((k.encode(), v if isinstance(v, bytes) else str(v).encode()) for k, v in fields)
        entry = StreamEntry(f"{ms}-{seq}", raw, STREAM_KEY)
        entries.append(entry)
        eid = dict(fields).get("stripe_event_id")
        if eid:
            by_id[eid].append(entry)
    rows.sort(key=lambda r: (r["processed_at"], r["stripe_event_id"]))
    return entries, rows, by_id


def _truth(g: _Gen, by_id: dict[str, list[StreamEntry]]) -> list[TruthItem]:
    out = []
    for e in g.events:
        if e.zone != "window" or not e.divs:
            continue
        first = by_id.get(e.id, [])
        first_id = first[0].stream_id if first else ""
        at = first[0].ms if first else None
        for kind, field_, rule, detail, side in e.divs:
            if at is None:
                at = e.processed_ms  # Rails-only: its processed_at
            out.append(TruthItem(e.id, e.type, kind, field_, RULE_CATEGORY[rule], rule, first_id, detail, side, at))
    out.sort(key=lambda t: (t.at_ms, t.event_id, t.kind, t.field))
    return out


# -- summary and self-check ------------------------------------------------------------------


def _window_figures(g: _Gen, week: Week, by_id, start: datetime) -> dict[str, Any]:
    lo, hi, pend = _ms(start), _ms(WINDOW_END), _ms(PENDING_START)
    compared, pending, per_type = [], [], Counter()
    ignored = primary = malformed = deliveries = hits = 0
    for entry in week.entries:
        if not lo <= entry.ms < hi:
            continue
        f = dict(entry.fields)
        eid = f.get(b"stripe_event_id", b"").decode("utf-8", "replace")
        if f.get(b"mode") == b"primary":
            primary += 1
            continue
        try:
            outcome = f.get(b"outcome", b"").decode("utf-8")
            if outcome:
                json.loads(outcome)
        except (UnicodeDecodeError, ValueError):
            malformed += 1
            continue
        if not eid or not f.get(b"event_type"):
            malformed += 1
            continue
        if f[b"event_type"].decode() not in CONFIG_TYPES:
            ignored += 1
            continue
        deliveries += 1
        if f.get(b"dedup") == b"hit" or f.get(b"result") == b"duplicate":
            hits += 1
    rails_only_ids = []
    for e in g.events:
        if e.mode != "shadow" or e.malformed or e.type not in CONFIG_TYPES:
            continue
        entries = by_id.get(e.id)
        if entries:
            at = entries[0].ms
            if lo <= at < hi:
                (pending if at >= pend else compared).append(e)
        elif e.processed_ms is not None:
            at = e.processed_ms
            if lo <= at < pend:
                compared.append(e)
                rails_only_ids.append(e.id)
    compared_deliveries = compared_hits = 0
    for e in compared:
        per_type[e.type] += 1
        for entry in by_id.get(e.id, []):
            f = dict(entry.fields)
            if f.get(b"mode") != b"shadow":
                continue
            compared_deliveries += 1
            compared_hits += f.get(b"dedup") == b"hit" or f.get(b"result") == b"duplicate"
    truth = [t for t in week.truth if lo <= t.at_ms < hi]
    ev_cat: dict[str, str] = {}
    rank = {"bug": 0, "timing": 1, "expected": 2}
    for t in truth:
        if t.event_id not in ev_cat or rank[t.category] < rank[ev_cat[t.event_id]]:
            ev_cat[t.event_id] = t.category
    n = len(compared)
    non_expected = sum(1 for c in ev_cat.values() if c != "expected")
    bugs = sum(1 for c in ev_cat.values() if c == "bug")
    errors = sum(1 for e in compared if e.cb_plan == "error")
    by_type_div = Counter(t.event_type for t in truth if ev_cat[t.event_id] != "expected")
    return {
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": WINDOW_END.isoformat().replace("+00:00", "Z"),
        "events": n,
        "events_by_type": dict(sorted(per_type.items())),
        "pending": len(pending),
        "ignored_entries": ignored,
        "primary_entries": primary,
        "malformed_entries": malformed,
        "rails_only_events": len(rails_only_ids),
        "deliveries": deliveries,
        "dedup_hits": hits,
        "dedup_hit_rate": round(hits / deliveries, 6) if deliveries else None,
        "deliveries_of_compared_events": compared_deliveries,
        "dedup_hits_of_compared_events": compared_hits,
        "error_events": errors,
        "error_rate": round(errors / n, 6) if n else None,
        "divergences": len(truth),
        "by_kind": dict(sorted(Counter(t.kind for t in truth).items())),
        "by_category": dict(sorted(Counter(t.category for t in truth).items())),
        "by_rule": dict(sorted(Counter(t.rule_id or "(unexplained)" for t in truth).items())),
        "by_field": dict(sorted(Counter(t.field for t in truth if t.field).items())),
        "divergent_events": len(ev_cat),
        "events_by_category": dict(sorted(Counter(ev_cat.values()).items())),
        "divergent_events_by_type": dict(sorted(by_type_div.items())),
        "divergence_rate": round(non_expected / n, 6) if n else None,
        "raw_divergence_rate": round(len(ev_cat) / n, 6) if n else None,
        "divergence_rate_without_timing": round(bugs / n, 6) if n else None,
        "unexplained": sum(1 for t in truth if t.rule_id is None),
    }


def _summary(g: _Gen, week: Week, by_id) -> dict[str, Any]:
    return {
        "settle_s": int(SETTLE.total_seconds()),
        "stream_key": STREAM_KEY,
        "stream_entries": len(week.entries),
        "legacy_rows": len(week.legacy_rows),
        "windows": {"week": _window_figures(g, week, by_id, WINDOW_START),
                    "last_24h": _window_figures(g, week, by_id, LAST24_START)},
        "timeline": {
            "lead_in_from": LEAD_IN_START.isoformat().replace("+00:00", "Z"),
            "basil_from": BASIL_FROM.isoformat().replace("+00:00", "Z"),
            "basil_rollout_until": ROLLOUT_END.isoformat().replace("+00:00", "Z"),
            "backfill_done": BACKFILL_DONE.isoformat().replace("+00:00", "Z"),
            "fix_jpy": FIX_JPY.isoformat().replace("+00:00", "Z"),
            "fix_connect": FIX_CONNECT.isoformat().replace("+00:00", "Z"),
            "fix_quantity": FIX_QUANTITY.isoformat().replace("+00:00", "Z"),
            "fix_final_attempt": FIX_FINAL_ATTEMPT.isoformat().replace("+00:00", "Z"),
            "redis_failover": REDIS_FAILOVER.isoformat().replace("+00:00", "Z"),
            "clean_from": CLEAN_FROM.isoformat().replace("+00:00", "Z"),
        },
    }


# A small reference comparison (the generator's own, independent of divergence.compare):
# it recomputes every divergence from the materialised entries and rows and must agree with
# the declared truth exactly.

_FIELDS = [
    ("status", "enum", ["outcome.status"], "status", None),
    ("customer", "string", ["outcome.customer_id", "payload.data.object.customer"], "customer_id", None),
    ("subscription", "string", ["outcome.subscription_id", "payload.data.object.subscription",
                                "payload.data.object.parent.subscription_details.subscription"], "subscription_id",
     ("customer.subscription.", "invoice.", "checkout.session.completed")),
    ("quantity", "int", ["outcome.quantity"], "quantity", ("customer.subscription.",)),
    ("interval", "enum", ["outcome.interval"], "plan_interval", ("customer.subscription.",)),
    ("amount", "money", ["outcome.amount"], "amount", ("invoice.", "charge.refunded", "checkout.session.completed")),
    ("current_period_end", "timestamp", ["outcome.current_period_end", "payload.data.object.items.data[*].current_period_end"],
     "current_period_end", ("customer.subscription.",)),
    ("cancel_at_period_end", "bool", ["outcome.cancel_at_period_end"], "cancel_at_period_end", ("customer.subscription.",)),
]


def _get(doc: dict, path: str) -> Any:
    if path.endswith("[*].current_period_end"):
        items = _get(doc, "payload.data.object.items.data") or []
        values = [i.get("current_period_end") for i in items if i.get("current_period_end") not in (None, "")]
        return max(values) if values else None
    cur: Any = doc
    for step in path.split("."):
        if not isinstance(cur, dict) or step not in cur:
            return None
        cur = cur[step]
    return cur


def _norm(kind: str, value: Any, currency: str | None) -> Any:
    if value is None or value == "":
        return None
    if kind == "enum":
        return str(value).lower()
    if kind == "string":
        return str(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(int(value)) if not isinstance(value, str) else value == "true"
    if kind == "money":
        if isinstance(value, Decimal):
            return int(value * (1 if (currency or "").lower() in ZERO_DECIMAL else 100))
        return int(value)
    if kind == "timestamp":
        if isinstance(value, datetime):
            return int(value.replace(tzinfo=UTC).timestamp())
        return int(value)
    raise ValueError(kind)


def _reference(entries: list[StreamEntry], rows: list[dict]) -> dict[str, list[tuple[str, str]]]:
    by_event: dict[str, list[dict]] = defaultdict(list)
    for entry in entries:
        f = {k.decode(): v for k, v in entry.fields}
        try:
            f = {k: v.decode("utf-8") for k, v in f.items()}
            outcome = json.loads(f["outcome"]) if f.get("outcome") else {}
        except (UnicodeDecodeError, ValueError):
            continue
        if not f.get("stripe_event_id") or f.get("mode") != "shadow" or f.get("event_type") not in CONFIG_TYPES:
            continue
        f["outcome_doc"] = outcome
        f["payload_doc"] = json.loads(f["payload"]) if f.get("payload") else {}
        by_event[f["stripe_event_id"]].append(f)
    rails: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        rails[row["stripe_event_id"]].append(row)
    out: dict[str, list[tuple[str, str]]] = {}
    for eid in sorted(set(by_event) | set(rails)):
        ds, rs = by_event.get(eid, []), sorted(rails.get(eid, []), key=lambda r: r["processed_at"])
        divs = []
        processed = [d for d in ds if d["result"] == "processed"]
        if len(processed) > 1:
            divs.append(("duplicate_processing", "cb"))
        if len(rs) > 1:
            divs.append(("duplicate_processing", "rails"))
        rerr = rs[0]["error"] if rs else None
        if not processed:
            if any(d["result"] == "error" for d in ds):
                if rerr is None:
                    divs.append(("error_in_shadow", ""))
            elif rs and rerr is None:
                divs.append(("missing_in_shadow", "skipped" if ds else ""))
        elif not rs:
            divs.append(("missing_in_legacy", ""))
        elif rerr is not None:
            divs.append(("error_in_legacy", ""))
        else:
            rep, row = processed[0], rs[0]
            doc = {"outcome": rep["outcome_doc"], "payload": rep["payload_doc"]}
            etype = rep["event_type"]
            for name, kind, cb_paths, col, types in _FIELDS:
                if types and not any(etype.startswith(t) for t in types):
                    continue
                cb_raw = next((v for v in (_get(doc, p) for p in cb_paths) if v not in (None, "")), None)
                cur = (doc["outcome"].get("currency") or row.get("currency") or "") if kind == "money" else None
                cb, rv = _norm(kind, cb_raw, cur), _norm(kind, row.get(col), row.get("currency") or cur)
                if kind == "timestamp" and cb is not None and rv is not None:
                    same = abs(cb - rv) <= 1
                else:
                    same = cb == rv
                if not same:
                    divs.append(("value_mismatch", name))
        out[eid] = divs
    return out


def _self_check(g: _Gen, week: Week, by_id) -> None:
    ref = _reference(week.entries, week.legacy_rows)
    declared: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for e in g.events:
        for kind, field_, _, detail, side in e.divs:
            declared[e.id].append((kind, side if kind == "duplicate_processing" else (detail or field_)))
    problems = []
    for e in g.events:
        if e.zone != "window" or e.mode != "shadow" or e.malformed or e.type not in CONFIG_TYPES:
            continue
        got = sorted(ref.get(e.id, []))
        want = sorted(declared.get(e.id, []))
        if got != want:
            problems.append(f"{e.id} {e.type} {e.story}: reference {got} declared {want}")
    for t in week.truth:
        if t.first_stream_id and (not by_id.get(t.event_id) or by_id[t.event_id][0].stream_id != t.first_stream_id):
            problems.append(f"{t.event_id}: first stream id mismatch")
        if t.at_ms >= _ms(PENDING_START) or t.at_ms < _ms(WINDOW_START):
            problems.append(f"{t.event_id}: truth outside the compared window")
        if t.category != "expected" and t.at_ms >= _ms(CLEAN_FROM):
            problems.append(f"{t.event_id}: {t.category} in the clean last day")
    ids = [e.stream_id for e in week.entries]
    if len(set(ids)) != len(ids):
        problems.append("duplicate stream ids")
    if problems:
        raise AssertionError("generated week is inconsistent:\n" + "\n".join(problems[:40]))


# -- output ------------------------------------------------------------------------------


def write_week(week: Week, folder: Path | str):
    from divergence.sources.snapshot import write_snapshot

    return write_snapshot(
        Path(folder),
        entries=week.entries,
        legacy_rows=week.legacy_rows,
        # What `divergence snapshot --since 7d` at as_of saves: the window ends the settle time before it.
        window_start=week.window_start - SETTLE,
        window_end=week.window_end - SETTLE,
        as_of=week.as_of,
        database_timezone="UTC",
        sources={"stream": f"generated (examples/generate.py seed {week.seed})", "legacy": "generated"},
        extra={"generator": {"seed": week.seed, "expected": week.summary}},
    )


def load_redis(week: Week, url: str, key: str = STREAM_KEY, *, chunk: int = 500) -> int:
    """Replace stream `key` with the week's entries, keeping their stream ids."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.delete(key)
        for i in range(0, len(week.entries), chunk):
            pipe = client.pipeline(transaction=False)
            for entry in week.entries[i:i + chunk]:
                pipe.xadd(key, dict(entry.fields), id=entry.stream_id, maxlen=None)
            pipe.execute()
        return len(week.entries)
    finally:
        client.close()


def ddl(dialect_name: str, table: str = TABLE) -> list[str]:
    """CREATE TABLE + indexes for MySQL/MariaDB, PostgreSQL or SQLite (the Rails schema)."""
    d = dialect_name.lower()
    if d in ("mysql", "mariadb"):
        pk, ts, ts3, boolean, text = "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY", "DATETIME", "DATETIME(3)", "TINYINT(1)", "TEXT"
    elif d in ("postgresql", "postgres"):
        pk, ts, ts3, boolean, text = ("id BIGSERIAL PRIMARY KEY", "TIMESTAMP(0) WITHOUT TIME ZONE",
                                      "TIMESTAMP(3) WITHOUT TIME ZONE", "BOOLEAN", "TEXT")
    elif d == "sqlite":
        pk, ts, ts3, boolean, text = "id INTEGER PRIMARY KEY AUTOINCREMENT", "DATETIME", "DATETIME", "BOOLEAN", "TEXT"
    else:
        raise ValueError(f"no DDL for dialect {dialect_name!r}")
    return [
        f"""CREATE TABLE {table} (
    {pk},
    stripe_event_id VARCHAR(255) NOT NULL,
    event_type VARCHAR(255) NOT NULL,
    status VARCHAR(64),
    customer_id VARCHAR(255),
    subscription_id VARCHAR(255),
    quantity INTEGER,
    plan_interval VARCHAR(16),
    amount DECIMAL(12,2),
    currency VARCHAR(3),
    current_period_end {ts},
    cancel_at_period_end {boolean},
    processed_at {ts3} NOT NULL,
    duration_ms INTEGER,
    error {text}
)""",
        f"CREATE INDEX ix_{table}_stripe_event_id ON {table} (stripe_event_id)",
        f"CREATE INDEX ix_{table}_processed_at ON {table} (processed_at)",
    ]


def load_sql(week: Week, url: str, table: str = TABLE, *, chunk: int = 1000) -> int:
    """Drop and create `table`, then insert the week's Rails rows (executemany, in chunks)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        dialect = engine.dialect.name
        cols = ", ".join(COLUMNS)
        insert = text(f"INSERT INTO {table} ({cols}) VALUES ({', '.join(':' + c for c in COLUMNS)})")
        rows = [_sql_row(r, dialect) for r in week.legacy_rows]
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
            for statement in ddl(dialect, table):
                conn.execute(text(statement))
            for i in range(0, len(rows), chunk):
                conn.execute(insert, rows[i:i + chunk])
        return len(rows)
    finally:
        engine.dispose()


def _sql_row(row: dict[str, Any], dialect: str) -> dict[str, Any]:
    out = {c: row.get(c) for c in COLUMNS}
    if dialect == "postgresql" and out["cancel_at_period_end"] is not None:
        out["cancel_at_period_end"] = bool(out["cancel_at_period_end"])
    if dialect == "sqlite":
        if out["amount"] is not None:
            out["amount"] = str(out["amount"])
        for c in ("current_period_end", "processed_at"):
            if out[c] is not None:
                out[c] = out[c].isoformat(sep=" ", timespec="milliseconds" if c == "processed_at" else "seconds")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the deterministic example shadow week.")
    parser.add_argument("--out", type=Path, help="write the snapshot folder here (e.g. examples/shadow-week)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--load-redis", metavar="URL", help="XADD the entries into this Redis (the key is replaced)")
    parser.add_argument("--key", default=STREAM_KEY, help=f"stream key for --load-redis (default {STREAM_KEY})")
    parser.add_argument("--load-sql", metavar="URL", help="SQLAlchemy URL; (re)creates the table and inserts the rows")
    parser.add_argument("--table", default=TABLE, help=f"table for --load-sql (default {TABLE})")
    args = parser.parse_args(argv)
    if not (args.out or args.load_redis or args.load_sql):
        parser.error("nothing to do: give --out, --load-redis and/or --load-sql")
    week = build_week(args.seed)
    w = week.summary["windows"]
    print(f"seed {args.seed}: {len(week.entries)} stream entries, {len(week.legacy_rows)} Rails rows, "
          f"{len(week.truth)} injected divergences; week {w['week']['events']} events, rate "
          f"{w['week']['divergence_rate']:.4%}; last 24 h {w['last_24h']['events']} events, rate "
          f"{w['last_24h']['divergence_rate']:.4%}", file=sys.stderr)
    if args.out:
        write_week(week, args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    if args.load_redis:
        n = load_redis(week, args.load_redis, args.key)
        print(f"loaded {n} entries into {args.key}", file=sys.stderr)
    if args.load_sql:
        n = load_sql(week, args.load_sql, args.table)
        print(f"loaded {n} rows into {args.table}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
