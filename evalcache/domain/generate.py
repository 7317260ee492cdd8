"""Deterministic synthetic data for the marketplace, as one pandas DataFrame per table.

Faker makes small pools of names, cities and texts (seeded with ``seed_instance``); everything
else is drawn vectorised from one ``numpy.random.Generator(PCG64(seed))``, so the same
``(scale, seed, as_of)`` gives the same rows byte for byte (for a given Faker and numpy
version). Every timestamp is relative to ``as_of``, never the wall clock.

Shapes: expert popularity and specialization popularity are Zipf-like; review ratings cluster
on 4-5; past appointments are completed/cancelled/no-show, future ones (booked from the
availability slots of the next 14 days) scheduled/confirmed; completed appointments have a
settled payment and future ones a pending payment; experts' ``rating``/``total_reviews`` agree
with their reviews (``round(avg, 2)`` half-up, as :func:`~evalcache.domain.writes.add_review`
recomputes it).

One step per table group, called by :func:`generate` in the order they draw from the one
random stream. They stay in one module (past ~400 lines) so that order reads top to bottom.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from faker import Faker

DAY = 86_400
HOUR = 3_600

SPECIALIZATIONS: tuple[str, ...] = (
    "General Practice", "Psychology", "Dermatology", "Nutrition", "Physiotherapy",
    "Cardiology", "Pediatrics", "Psychiatry", "Gynecology", "Orthopedics",
    "Endocrinology", "Neurology", "Sleep Medicine", "Allergy", "Gastroenterology",
    "Ophthalmology", "ENT", "Urology", "Pulmonology", "Rheumatology",
    "Oncology", "Nephrology", "Speech Therapy", "Occupational Therapy", "Sports Medicine",
    "Geriatrics", "Infectious Disease", "Hematology", "Podiatry", "Genetic Counseling",
)  # fmt: skip
LANGUAGES = np.array(["en", "es", "fr", "de"])
TIMEZONES = np.array(
    ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
     "Europe/London", "Europe/Berlin"]
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Sizes:
    """Row targets for a scale (scale 1: 10k users, 1k experts, 50k reviews, 100k appts)."""

    users: int
    experts: int
    admins: int
    reviews: int
    appointments: int

    @classmethod
    def for_scale(cls, scale: float) -> Sizes:
        experts = max(5, round(1_000 * scale))
        admins = max(1, round(5 * scale))
        users = max(experts + admins + 10, round(10_000 * scale))
        return cls(users, experts, admins, round(50_000 * scale), max(10, round(100_000 * scale)))


def _ts(seconds: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(seconds, unit="s", utc=True))


def _money(cents: np.ndarray) -> pd.Series:
    s = pd.Series(cents, dtype="int64")
    return (s // 100).astype(str) + "." + (s % 100).astype(str).str.zfill(2)


def _some(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` where ``mask``, else None (NULL)."""
    out = np.full(mask.shape, None, dtype=object)
    out[mask] = values[mask]
    return out


def _zipf_weights(rng: np.random.Generator, n: int, s: float) -> np.ndarray:
    """Zipf-like weights over a random permutation (rank r has weight 1/r**s)."""
    ranks = rng.permutation(n) + 1
    w = 1.0 / ranks.astype(float) ** s
    return np.asarray(w / w.sum())


@dataclass(frozen=True, slots=True)
class _Draw:
    """What every step draws with. Steps, and the draws within each, run in a fixed order:
    moving one draw changes every row after it."""

    rng: np.random.Generator
    n: Sizes
    t0: int  # as_of, epoch seconds
    day0: int  # midnight of as_of


@dataclass(frozen=True, slots=True)
class _Texts:
    """Faker's small pools of names, cities and texts that rows draw from."""

    firsts: np.ndarray
    lasts: np.ndarray
    cities: np.ndarray
    bios: np.ndarray
    comments: np.ndarray

    @classmethod
    def make(cls, seed: int) -> _Texts:
        fake = Faker("en_US")
        fake.seed_instance(seed)
        return cls(
            firsts=np.array([fake.first_name() for _ in range(500)]),
            lasts=np.array([fake.last_name() for _ in range(700)]),
            cities=np.array([fake.city() for _ in range(300)]),
            bios=np.array([fake.paragraph(nb_sentences=3) for _ in range(300)]),
            comments=np.array([fake.sentence(nb_words=12) for _ in range(600)]),
        )


@dataclass(frozen=True, slots=True)
class _Users:
    uid: np.ndarray
    created: np.ndarray  # epoch seconds


@dataclass(frozen=True, slots=True)
class _Experts:
    """The experts' attributes drawn before the other tables (id e has user id admins + e)."""

    eid: np.ndarray
    user_id: np.ndarray
    created: np.ndarray  # their user's created_at, epoch seconds
    verified: np.ndarray
    active: np.ndarray
    rate_cents: np.ndarray
    popularity: np.ndarray  # Zipf-like weights: who gets reviews and bookings


@dataclass(frozen=True, slots=True)
class _Patients:
    ids: np.ndarray
    weights: np.ndarray  # Zipf-like: who writes reviews and books


@dataclass(frozen=True, slots=True)
class _ReviewTotals:
    """Per expert: review count, average rating in cents, time of the last review."""

    count: np.ndarray
    rating_cents: np.ndarray
    last: np.ndarray


def _users(d: _Draw, texts: _Texts) -> tuple[_Users, dict[str, pd.DataFrame]]:
    """``users``, ``profiles`` and ``preferences``: ids 1..admins are admins, then the experts'
    users, then patients."""
    rng, n, t0 = d.rng, d.n, d.t0
    uid = np.arange(1, n.users + 1)
    role = np.full(n.users, "user", dtype=object)
    role[: n.admins] = "admin"
    role[n.admins : n.admins + n.experts] = "expert"
    created = t0 - rng.integers(DAY, 730 * DAY, n.users)
    first = rng.choice(texts.firsts, n.users)
    last = rng.choice(texts.lasts, n.users)
    email = [f"{f}.{ln}.{i}@example.org".lower() for f, ln, i in zip(first, last, uid, strict=True)]
    user_updated = created + (rng.random(n.users) * (t0 - created)).astype(np.int64)
    t: dict[str, pd.DataFrame] = {}
    t["users"] = pd.DataFrame(
        {"id": uid, "email": email, "role": role, "created_at": _ts(created),
         "updated_at": _ts(user_updated), "version": 1}
    )  # fmt: skip
    is_expert_user = role == "expert"
    bio = _some(is_expert_user | (rng.random(n.users) < 0.3), rng.choice(texts.bios, n.users))
    t["profiles"] = pd.DataFrame(
        {"user_id": uid, "first_name": first, "last_name": last,
         "phone": [f"+1-555-{p:07d}" for p in rng.integers(0, 10_000_000, n.users)],
         "city": rng.choice(texts.cities, n.users), "bio": bio, "updated_at": _ts(user_updated),
         "version": 1}
    )  # fmt: skip
    t["preferences"] = pd.DataFrame(
        {"user_id": uid, "language": rng.choice(LANGUAGES, n.users, p=[0.7, 0.15, 0.1, 0.05]),
         "timezone": rng.choice(TIMEZONES, n.users),
         "email_notifications": rng.random(n.users) < 0.8,
         "sms_notifications": rng.random(n.users) < 0.35,
         "updated_at": _ts(user_updated), "version": 1}
    )  # fmt: skip
    return _Users(uid, created), t


def _expert_traits(d: _Draw, users: _Users) -> _Experts:
    rng, n = d.rng, d.n
    eid = np.arange(1, n.experts + 1)
    e_user = eid + n.admins
    e_verified = rng.random(n.experts) < 0.85
    e_active = rng.random(n.experts) < 0.92
    rate = np.clip(np.round(rng.lognormal(np.log(110), 0.35, n.experts) / 5) * 5, 40, 400)
    rate_cents = rate.astype(np.int64) * 100
    popularity = _zipf_weights(rng, n.experts, 0.5)
    e_created = users.created[e_user - 1]
    return _Experts(eid, e_user, e_created, e_verified, e_active, rate_cents, popularity)


def _verifications(d: _Draw, users: _Users, experts: _Experts) -> pd.DataFrame:
    """Experts follow ``is_verified``; admins are verified; patients are drawn."""
    rng, n, t0, created = d.rng, d.n, d.t0, users.created
    v_status = rng.choice(
        np.array(["unverified", "pending", "verified", "rejected"], dtype=object),
        n.users, p=[0.17, 0.08, 0.70, 0.05],
    )  # fmt: skip
    v_status[: n.admins] = "verified"
    v_status[n.admins : n.admins + n.experts] = np.where(experts.verified, "verified", "pending")
    submitted = created + (rng.random(n.users) * (t0 - created) * 0.5).astype(np.int64)
    verified = np.minimum(submitted + rng.integers(HOUR, 5 * DAY, n.users), t0)
    has_sub = v_status != "unverified"
    is_ver = v_status == "verified"
    return pd.DataFrame(
        {"user_id": users.uid, "status": v_status,
         "submitted_at": _ts(np.where(has_sub, submitted, 0)).where(has_sub),
         "verified_at": _ts(np.where(is_ver, verified, 0)).where(is_ver),
         "updated_at": _ts(np.where(is_ver, verified, np.where(has_sub, submitted, created))),
         "version": 1}
    )  # fmt: skip


def _expert_specializations(d: _Draw, experts: _Experts) -> tuple[pd.DataFrame, np.ndarray]:
    """1-3 distinct specializations per expert, Zipf-weighted (Gumbel top-k sampling).

    Also returns each expert's specialization positions, most likely first (headlines name
    the first).
    """
    rng, n = d.rng, d.n
    n_spec = len(SPECIALIZATIONS)
    spec_w = _zipf_weights(rng, n_spec, 1.0)
    keys = np.log(spec_w)[None, :] + rng.gumbel(size=(n.experts, n_spec))
    order = np.argsort(-keys, axis=1)
    k = rng.choice([1, 2, 3], n.experts, p=[0.5, 0.35, 0.15])
    mask = np.arange(n_spec)[None, :] < k[:, None]
    rows, cols = np.nonzero(mask)
    es = pd.DataFrame({"expert_id": experts.eid[rows], "specialization_id": order[rows, cols] + 1})
    return es.sort_values(["expert_id", "specialization_id"]), order


def _patients(d: _Draw, users: _Users) -> _Patients:
    ids = users.uid[d.n.admins + d.n.experts :]
    return _Patients(ids, _zipf_weights(d.rng, len(ids), 0.3))


def _reviews(
    d: _Draw, experts: _Experts, patients: _Patients, texts: _Texts
) -> tuple[pd.DataFrame, _ReviewTotals]:
    """Reviews, ids in time order; ratings cluster on 4-5."""
    rng, n, t0 = d.rng, d.n, d.t0
    r_exp = rng.choice(n.experts, n.reviews, p=experts.popularity)
    r_rating = rng.choice([1, 2, 3, 4, 5], n.reviews, p=[0.03, 0.04, 0.10, 0.33, 0.50])
    ec = experts.created[r_exp]
    r_created = ec + (rng.random(n.reviews) * (t0 - ec)).astype(np.int64)
    r_comment = _some(rng.random(n.reviews) < 0.85, rng.choice(texts.comments, n.reviews))
    rv = pd.DataFrame(
        {
            "expert_id": experts.eid[r_exp],
            "user_id": rng.choice(patients.ids, n.reviews, p=patients.weights),
            "rating": r_rating,
            "comment": r_comment,
            "created_at": r_created,
        }
    ).sort_values(["created_at", "expert_id", "user_id"], kind="stable", ignore_index=True)
    rv.insert(0, "id", np.arange(1, n.reviews + 1))
    r_sum = np.bincount(r_exp, weights=r_rating, minlength=n.experts).astype(np.int64)
    r_cnt = np.bincount(r_exp, minlength=n.experts)
    # round(avg, 2) half-up, in integer cents (as writes.add_review recomputes it)
    rating_cents = np.where(r_cnt > 0, (r_sum * 200 + r_cnt) // np.maximum(2 * r_cnt, 1), 0)
    last_review = np.zeros(n.experts, dtype=np.int64)
    np.maximum.at(last_review, r_exp, r_created)
    rv["created_at"] = _ts(rv["created_at"].to_numpy())
    rv["updated_at"] = rv["created_at"]
    rv["version"] = 1
    return rv, _ReviewTotals(r_cnt, rating_cents, last_review)


def _experts(
    d: _Draw, experts: _Experts, spec_order: np.ndarray, totals: _ReviewTotals
) -> pd.DataFrame:
    """The ``experts`` table; ``rating``/``total_reviews`` agree with the reviews."""
    headlines = [
        f"{SPECIALIZATIONS[spec_order[i, 0]]} specialist, {y} years of practice"
        for i, y in enumerate(d.rng.integers(2, 35, d.n.experts))
    ]
    e_created = experts.created
    return pd.DataFrame(
        {"id": experts.eid, "user_id": experts.user_id, "headline": headlines,
         "hourly_rate": _money(experts.rate_cents), "rating": _money(totals.rating_cents),
         "total_reviews": totals.count, "is_active": experts.active,
         "is_verified": experts.verified, "created_at": _ts(e_created),
         "updated_at": _ts(np.maximum(e_created, totals.last)), "version": 1}
    )  # fmt: skip


def _availability(d: _Draw, experts: _Experts) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """1-hour slots 08:00-18:00 over the next 14 days, ~64 % of hours open.

    A tenth of the appointments (at most 60 % of the slots) are booked from them, weighted by
    expert popularity; returns the slots and the booked slots' expert positions and starts.
    """
    rng, n, t0 = d.rng, d.n, d.t0
    hours = np.arange(8, 19)
    grid = d.day0 + (np.arange(14)[:, None] * DAY + hours[None, :] * HOUR).ravel()
    open_mask = rng.random((n.experts, grid.size)) < 0.64
    s_exp, s_idx = np.nonzero(open_mask)
    s_start = grid[s_idx]
    keep = s_start >= t0
    s_exp, s_start = s_exp[keep], s_start[keep]
    n_slots = s_start.size

    n_future = min(round(n.appointments * 0.1), int(n_slots * 0.6))
    popularity = experts.popularity
    slot_p = popularity[s_exp] / popularity[s_exp].sum()
    booked_idx = np.sort(rng.choice(n_slots, n_future, replace=False, p=slot_p))
    booked = np.zeros(n_slots, dtype=bool)
    booked[booked_idx] = True
    slots = pd.DataFrame(
        {"id": np.arange(1, n_slots + 1), "expert_id": experts.eid[s_exp],
         "starts_at": _ts(s_start), "ends_at": _ts(s_start + HOUR), "is_booked": booked,
         "updated_at": _ts(t0 - rng.integers(0, 7 * DAY, n_slots)), "version": 1}
    )  # fmt: skip
    return slots, s_exp[booked_idx], s_start[booked_idx]


def _appointments(
    d: _Draw,
    experts: _Experts,
    patients: _Patients,
    f_exp: np.ndarray,
    f_at: np.ndarray,
) -> pd.DataFrame:
    """Future appointments (the booked slots: scheduled/confirmed) and past ones
    (completed/cancelled/no-show); ids in creation order, times in epoch seconds."""
    rng, n, t0, day0 = d.rng, d.n, d.t0, d.day0
    n_future = f_exp.size
    f_status = rng.choice(np.array(["scheduled", "confirmed"], dtype=object), n_future)
    f_dur = rng.choice([30, 45, 60], n_future, p=[0.3, 0.2, 0.5])
    f_created = t0 - rng.integers(HOUR, 14 * DAY, n_future)

    n_past = n.appointments - n_future
    p_exp = rng.choice(n.experts, n_past, p=experts.popularity)
    p_at = (
        day0
        - rng.integers(1, 181, n_past) * DAY
        + rng.integers(8, 19, n_past) * HOUR
        + rng.choice([0, 1800], n_past)
    )
    p_dur = rng.choice([30, 45, 60, 90], n_past, p=[0.3, 0.2, 0.4, 0.1])
    p_status = rng.choice(
        np.array(["completed", "cancelled", "no_show"], dtype=object), n_past, p=[0.8, 0.12, 0.08]
    )
    p_created = p_at - rng.integers(HOUR, 21 * DAY, n_past)
    p_end = p_at + p_dur * 60
    p_updated = np.where(
        p_status == "cancelled", p_created + (rng.random(n_past) * (p_at - p_created)), p_end
    ).astype(np.int64)

    ap = pd.DataFrame(
        {
            "user_id": rng.choice(patients.ids, n.appointments, p=patients.weights),
            "expert_id": experts.eid[np.concatenate([p_exp, f_exp])],
            "scheduled_at": np.concatenate([p_at, f_at]),
            "duration_minutes": np.concatenate([p_dur, f_dur]),
            "status": np.concatenate([p_status, f_status]),
            "created_at": np.concatenate([p_created, f_created]),
            "updated_at": np.concatenate([p_updated, f_created]),
        }
    ).sort_values(["created_at", "expert_id", "scheduled_at"], kind="stable", ignore_index=True)
    ap.insert(0, "id", np.arange(1, n.appointments + 1))
    return ap


def _payments(d: _Draw, ap: pd.DataFrame, experts: _Experts) -> pd.DataFrame:
    """Settled payments for completed appointments, pending ones for future appointments."""
    rng = d.rng
    pay = ap[ap["status"].isin(["completed", "scheduled", "confirmed"])]
    m = len(pay)
    done = (pay["status"] == "completed").to_numpy()
    p_st = np.where(
        done,
        rng.choice(np.array(["succeeded", "refunded", "failed"], dtype=object), m,
                   p=[0.95, 0.03, 0.02]),
        "pending",
    )  # fmt: skip
    end = pay["scheduled_at"].to_numpy() + pay["duration_minutes"].to_numpy() * 60
    paid = end + rng.integers(0, 2 * HOUR, m)
    settled = np.isin(p_st, ["succeeded", "refunded"])
    rate_cents = experts.rate_cents
    cents = (rate_cents[pay["expert_id"].to_numpy() - 1] * pay["duration_minutes"].to_numpy() * 2
             + 60) // 120  # fmt: skip
    return pd.DataFrame(
        {"id": np.arange(1, m + 1), "appointment_id": pay["id"].to_numpy(),
         "user_id": pay["user_id"].to_numpy(), "expert_id": pay["expert_id"].to_numpy(),
         "amount": _money(cents).to_numpy(), "currency": "USD", "status": p_st,
         "paid_at": _ts(np.where(settled, paid, 0)).where(settled),
         "created_at": _ts(pay["created_at"].to_numpy()),
         "updated_at": _ts(np.where(done, np.where(settled, paid, end),
                                    pay["created_at"].to_numpy())),
         "version": 1}
    )  # fmt: skip


def generate(scale: float, seed: int, as_of: datetime) -> dict[str, pd.DataFrame]:
    """All tables, in load order, with explicit ids (see module docstring)."""
    t0 = int(as_of.timestamp())
    d = _Draw(np.random.Generator(np.random.PCG64(seed)), Sizes.for_scale(scale), t0, t0 - t0 % DAY)
    texts = _Texts.make(seed)
    # The steps in the order they draw from d.rng; the order of t is the tables' load order.
    users, t = _users(d, texts)
    experts = _expert_traits(d, users)
    t["verifications"] = _verifications(d, users, experts)
    t["specializations"] = pd.DataFrame(
        {"id": np.arange(1, len(SPECIALIZATIONS) + 1), "name": SPECIALIZATIONS}
    )
    expert_specs, spec_order = _expert_specializations(d, experts)
    patients = _patients(d, users)
    reviews, totals = _reviews(d, experts, patients, texts)
    # experts load before expert_specializations and reviews
    t["experts"] = _experts(d, experts, spec_order, totals)
    t["expert_specializations"] = expert_specs
    t["reviews"] = reviews
    t["availability_slots"], f_exp, f_at = _availability(d, experts)
    ap = _appointments(d, experts, patients, f_exp, f_at)
    payments = _payments(d, ap, experts)
    t["appointments"] = ap.assign(
        scheduled_at=_ts(ap["scheduled_at"].to_numpy()),
        created_at=_ts(ap["created_at"].to_numpy()),
        updated_at=_ts(ap["updated_at"].to_numpy()),
        version=1,
    )
    t["payments"] = payments
    return t
