"""Builders of EVENTS.md-form event dicts for tests (deterministic ids, readable scenarios)."""
from __future__ import annotations

import datetime as dt
import itertools
import uuid

_seq = itertools.count(1)
T0 = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.timezone.utc)
SENDER = {"01": "SE2321000016-0001", "03": "SE2321000018-0001", "12": "SE2321000214-0001"}


def eid() -> str:
    return str(uuid.UUID(int=next(_seq) + (7 << 100), version=4))


def at(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


def ev(event_type: str, minutes: float, region: str = "01", **fields) -> dict:
    return {"event_id": fields.pop("event_id", None) or eid(), "event_type": event_type,
            "occurred_at": at(minutes), "sender_id": fields.pop("sender_id", SENDER.get(region, SENDER["01"])),
            "region_code": region, **fields}


def ward(ward_id: str, minutes=0, region="01", mvo="101", staffed=10, care_type="somatic", kind="general",
         hospital="SE2321000016-H001", **kw) -> dict:
    return ev("WardDeclared", minutes, region, ward_id=ward_id, hospital_id=hospital, ward_name=f"Avd {ward_id[-4:]}",
              hospital_name=f"Sjukhus {hospital[-4:]}", mvo_code=mvo, care_type=care_type, ward_kind=kind,
              staffed_beds=staffed, budgeted_beds=None, **kw)


def admit(ward_id, stay, minutes, mvo="101", muni="0180", region="01", **kw) -> dict:
    return ev("PatientAdmitted", minutes, region, ward_id=ward_id, stay_id=stay, patient_ref=f"p_{stay.encode().hex()[:16]:0<16}",
              responsible_mvo_code=mvo, home_municipality_code=muni, **kw)


def transfer(stay, src, dst, minutes, mvo=None, region="01") -> dict:
    return ev("PatientTransferred", minutes, region, stay_id=stay, from_ward_id=src, to_ward_id=dst,
              responsible_mvo_code=mvo)


def stay_event(kind, ward_id, stay, minutes, region="01") -> dict:
    return ev(kind, minutes, region, ward_id=ward_id, stay_id=stay)


def census(ward_id, minutes, staffed, occupied, on_leave=0, outliers=0, ready=0, ooa=0, region="01", overcrowded=None,
           includes_leave=None):
    """`includes_leave` (occupied_includes_leave) is sent only when given, as a v1 sender leaves it out."""
    extra = {} if includes_leave is None else {"occupied_includes_leave": includes_leave}
    return ev("WardCensus", minutes, region, ward_id=ward_id, staffed_beds=staffed, occupied=occupied,
              on_leave=on_leave, overcrowded=max(0, occupied - staffed) if overcrowded is None else overcrowded,
              outliers=outliers, discharge_ready=ready, out_of_area=ooa, **extra)


def decided(contact, minutes=0, region="01", phase=1, mvo="511", guarantee=True, decided_at=None, **kw) -> dict:
    base = dict(contact_id=contact, provider_id="SE2321000016-P001", hospital_id="SE2321000016-H001",
                clinic_id="SE2321000016-K001", phase=phase, mvo_code=mvo,
                activity_code=kw.pop("activity_code", "AA001" if phase in (2, 3) else None),
                guarantee=guarantee, decided_at=decided_at or at(minutes),
                medical_target_date=kw.pop("medical_target_date", "2027-01-15" if phase == 4 else None),
                referral_id=None, referral_sent_at=None, referral_arrived_at=None, birth_year=1970, sex=2,
                home_municipality_code=kw.pop("muni", "0180"))
    base.update(kw)
    return ev("ContactDecided", minutes, region, **base)
