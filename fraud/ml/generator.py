"""A seeded generator of realistic labelled transactions (no Django, NumPy only).

Why a generator: no labelled transaction data set ships inside a PyPI package (the wheels
that claim one download it at run time, which this platform never does), and real card or
transfer data cannot be published. So the default fraud model learns from transactions
made here, deterministic for a seed, with the patterns fraud teams see most:

- **account take-over** (30 % of episodes): a new device (mostly), several transfers within
  half an hour to one or two never-paid beneficiaries, each far above the client's usual
  (one in five an online purchase of goods to resell, paid from the account);
- **card testing then cash-out** (25 %): many tiny card payments at digital-goods merchants,
  often abroad, then a few large ones at electronics or jewellery merchants;
- **social engineering** (17 %): one big transfer, 5 to 20 times the usual, to a new
  beneficiary, in the daytime from the usual device;
- **night cash-out** (15 %): ATM withdrawals between midnight and 5 am, mostly abroad;
- **look-alikes** (13 %): a stolen card used the way its owner would, which nothing can catch
  (the irreducible error every real data set has).

Legitimate traffic is not naive either: each client has a usual amount (log-normal), a
type mix (card payments, bills and online payments from the account, direct debits,
transfers, withdrawals, a few cheques and deposits), regular beneficiaries and devices,
daytime habits; travellers spend abroad for
days at a time, night owls pay at night, gamers buy tiny in-app items in bursts, some
people shop in bursts, buy a car (a big transfer to a new
beneficiary) or get a new phone; and a share of callers send only the seed fields (no
channel, country, merchant, beneficiary or device), as integrating systems do. A share of
take-overs reuse the victim's device in the daytime. So neither rules nor model find it
trivial.

Limits: the proportions and amounts are invented, not measured; there is one home country
and currency; no merchant or beneficiary networks, chargeback delays or seasonality. It
is a starting model: retrain on the bank's own labels (resolved alerts,
``train_fraud_model --with-labels``) as soon as there are some.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from fraud.features import TransactionFacts

ANCHOR = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # a Monday; fixed so a seed gives the same rows
TRAVEL_COUNTRIES = ("ES", "IT", "DE", "BE", "PT", "GB", "US", "MA", "CH", "NL")
FRAUD_COUNTRIES = ("NG", "RU", "UA", "BR", "CN", "RO", "US", "GB", "TR", "VN")
EVERYDAY_MCC = ("5411", "5499", "5812", "5814", "5541", "5732", "5311", "5651", "5912", "4111", "7011", "5999")
RISKY_TEST_MCC = ("5815", "5816", "5818", "7995")
CASHOUT_MCC = ("5732", "5944", "5045", "6051")
TYPES = ("carte", "paiement", "prelevement", "virement", "retrait", "cheque", "depot")
TYPE_MIX = (0.52, 0.08, 0.14, 0.16, 0.08, 0.01, 0.01)
BILL_MCC = ("4900", "4814", "4899", "6300", "8211", "5999", "5311", "4121")
SCENARIOS = ("account_takeover", "card_testing", "social_engineering", "night_cashout", "lookalike")
SCENARIO_MIX = (0.3, 0.25, 0.17, 0.15, 0.13)


@dataclass(frozen=True)
class GeneratedTransaction:
    """A transaction with its truth: ``is_fraud`` and the scenario that made it."""

    transaction_id: str
    client_id: str
    facts: TransactionFacts
    is_fraud: bool
    scenario: str = "legitimate"


@dataclass(frozen=True)
class _Client:
    client_id: str
    log_amount: float
    spread: float
    per_day: float
    beneficiaries: tuple[str, ...]
    devices: tuple[str, ...]
    traveller: bool
    night_owl: bool
    gamer: bool
    sparse: bool  # its bank's system sends only the seed fields


class TransactionGenerator:
    """``generate()`` yields every client's transactions in time order; deterministic for ``seed``."""

    def __init__(self, *, seed: int = 7, clients: int = 1200, days: int = 45, fraud_share: float = 0.12) -> None:
        if clients < 10 or days < 7:
            raise ValueError("generate at least 10 clients over 7 days")
        self.seed, self.clients, self.days, self.fraud_share = seed, clients, days, fraud_share
        self.rng = np.random.default_rng(seed)
        self.local = ZoneInfo("Europe/Paris")
        self._serial = 0

    # --- helpers ----------------------------------------------------------------------------

    def _at(self, day: int, hour: float) -> dt.datetime:
        local_midnight = (ANCHOR + dt.timedelta(days=day)).astimezone(self.local).replace(hour=0, minute=0, second=0)
        return (local_midnight + dt.timedelta(hours=hour)).astimezone(dt.UTC)

    def _hour(self, night_owl: bool = False) -> float:
        # Daytime habits: mostly 8-21h, a thin tail at night (thicker for night owls).
        if self.rng.random() < (0.3 if night_owl else 0.03):
            return float(self.rng.uniform(0, 6))
        return float(np.clip(self.rng.normal(14, 3.5), 6, 23.9))

    def _amount(self, client: _Client, factor: float = 1.0) -> float:
        return round(max(0.5, float(np.exp(self.rng.normal(client.log_amount, client.spread))) * factor), 2)

    def _iban(self, country: str = "FR76") -> str:
        return f"{country}{self.rng.integers(10**9, 10**10)}"

    def _client(self, n: int) -> _Client:
        rng = self.rng
        return _Client(
            client_id=f"G{self.seed}-{n:05d}",
            log_amount=float(rng.normal(3.8, 0.6)),
            spread=float(rng.uniform(0.6, 1.0)),
            per_day=float(rng.uniform(0.4, 1.6)),
            beneficiaries=tuple(self._iban() for _ in range(int(rng.integers(2, 8)))),
            devices=tuple(f"dev-{rng.integers(10**8, 10**9)}" for _ in range(int(rng.integers(1, 3)))),
            traveller=bool(rng.random() < 0.12),
            night_owl=bool(rng.random() < 0.05),
            gamer=bool(rng.random() < 0.04),
            sparse=bool(rng.random() < 0.15),
        )

    def _row(
        self,
        out: list[GeneratedTransaction],
        client: _Client,
        at: dt.datetime,
        amount: float,
        type_: str,
        scenario: str = "legitimate",
        **context: str,
    ) -> None:
        """Append one transaction; a sparse client's system sends the seed fields only."""
        self._serial += 1
        prefix = "L" if scenario == "legitimate" else "F"
        facts = TransactionFacts(amount=round(amount, 2), type=type_, timestamp=at)
        if not client.sparse:
            facts = TransactionFacts(
                amount=round(amount, 2),
                type=type_,
                timestamp=at,
                country=context.get("country", "FR"),
                channel=context.get("channel", ""),
                beneficiary=context.get("beneficiary", ""),
                device_id=context.get("device", ""),
                merchant_category=context.get("mcc", ""),
            )
        out.append(
            GeneratedTransaction(
                f"{prefix}{self.seed}-{self._serial:07d}", client.client_id, facts, scenario != "legitimate", scenario
            )
        )

    # --- legitimate traffic -------------------------------------------------------------------

    def _legitimate(self, client: _Client) -> list[GeneratedTransaction]:
        rng = self.rng
        out: list[GeneratedTransaction] = []
        trip = (-1, -1)
        if client.traveller:
            start = int(rng.integers(0, self.days - 3))
            trip = (start, start + int(rng.integers(3, 10)))
        for day in range(self.days):
            abroad = trip[0] <= day <= trip[1]
            country = TRAVEL_COUNTRIES[day % len(TRAVEL_COUNTRIES)] if abroad else "FR"
            for _ in range(int(rng.poisson(client.per_day))):
                hour = float(rng.uniform(0, 24)) if abroad else self._hour(client.night_owl)
                self._everyday(out, client, day, hour, str(rng.choice(TYPES, p=TYPE_MIX)), country)
            if rng.random() < 0.01:  # shopping spree: a legitimate burst of card payments
                hour = self._hour()
                for i in range(int(rng.integers(3, 8))):
                    at = self._at(day, hour + i * float(rng.uniform(0.5, 2.5)) / 60)
                    mcc = str(rng.choice(EVERYDAY_MCC))
                    self._row(out, client, at, self._amount(client), "carte", country=country, channel="pos", mcc=mcc)
            if client.gamer and rng.random() < 0.1:  # bursts of tiny in-app payments
                hour = self._hour(client.night_owl)
                for i in range(int(rng.integers(3, 9))):
                    at = self._at(day, hour + i * float(rng.uniform(1, 8)) / 60)
                    amount = float(rng.uniform(0.99, 9.99))
                    mcc = str(rng.choice(("5816", "5815", "5818")))
                    self._row(out, client, at, amount, "carte", country=country, channel="mobile", mcc=mcc,
                              device=client.devices[0])  # fmt: skip
            if rng.random() < 0.004:  # a car, a deposit on a flat: big transfer to a new beneficiary
                amount = self._amount(client, float(rng.uniform(8, 40)))
                self._row(out, client, self._at(day, self._hour()), amount, "virement", channel="web",
                          beneficiary=self._iban(), device=client.devices[0])  # fmt: skip
        return out

    def _everyday(
        self, out: list[GeneratedTransaction], client: _Client, day: int, hour: float, type_: str, country: str
    ) -> None:
        rng = self.rng
        at = self._at(day, hour)
        device = client.devices[int(rng.integers(0, len(client.devices)))]
        if rng.random() < 0.01:
            device = f"dev-{rng.integers(10**8, 10**9)}"  # a new phone
        if type_ == "carte":
            channel = str(rng.choice(("pos", "web", "mobile"), p=(0.7, 0.2, 0.1)))
            mcc = str(rng.choice(EVERYDAY_MCC)) if rng.random() > 0.01 else str(rng.choice(RISKY_TEST_MCC))
            self._row(out, client, at, self._amount(client), type_, country=country, channel=channel, mcc=mcc,
                      device=device if channel != "pos" else "")  # fmt: skip
        elif type_ == "virement":
            beneficiary = client.beneficiaries[int(rng.integers(0, len(client.beneficiaries)))]
            if rng.random() < 0.08:
                beneficiary = self._iban()
            amount = self._amount(client, float(rng.uniform(1, 4)))
            channel = str(rng.choice(("web", "mobile", "branch")))
            self._row(out, client, at, amount, type_, country=country, channel=channel, beneficiary=beneficiary,
                      device=device)  # fmt: skip
        elif type_ == "paiement":  # a bill or an online purchase paid from the account, not by card
            mcc = str(rng.choice(BILL_MCC))
            channel = str(rng.choice(("web", "mobile", "api"), p=(0.5, 0.3, 0.2)))
            self._row(out, client, at, self._amount(client, float(rng.uniform(0.5, 2))), type_, country=country,
                      channel=channel, mcc=mcc, device=device if channel != "api" else "")  # fmt: skip
        elif type_ == "retrait":
            amount = float(rng.choice((20, 40, 50, 60, 100, 150, 200)))
            self._row(out, client, at, amount, type_, country=country, channel="atm", mcc="6011")
        elif type_ == "prelevement":
            amount = self._amount(client, float(rng.uniform(0.5, 2)))
            self._row(out, client, self._at(day, float(rng.uniform(1, 5))), amount, type_, channel="api",
                      beneficiary=client.beneficiaries[0])  # fmt: skip
        else:
            self._row(out, client, at, self._amount(client, 2), type_, channel="branch")

    # --- fraud ----------------------------------------------------------------------------------

    def _fraud(self, client: _Client, scenario: str) -> list[GeneratedTransaction]:
        rng = self.rng
        out: list[GeneratedTransaction] = []
        day = int(rng.integers(min(10, self.days - 1), self.days))
        usual = float(np.exp(client.log_amount))
        if scenario == "account_takeover":
            stealthy = rng.random() < 0.3  # malware on the victim's own phone, in the daytime
            hour = self._hour() if stealthy else float(rng.uniform(0, 24))
            device = client.devices[0] if stealthy else f"dev-{rng.integers(10**8, 10**9)}"
            mules = [self._iban("LT") for _ in range(int(rng.integers(1, 3)))]
            country = "FR" if rng.random() < 0.6 else str(rng.choice(FRAUD_COUNTRIES))
            for i in range(int(rng.integers(2, 7))):
                at = self._at(day, hour + i * float(rng.uniform(1, 6)) / 60)
                channel = str(rng.choice(("web", "mobile")))
                if rng.random() < 0.2:  # goods bought online from the account, to resell
                    self._row(out, client, at, float(rng.uniform(300, 3000)), "paiement", scenario, country=country,
                              channel=channel, mcc=str(rng.choice(CASHOUT_MCC)), device=device)  # fmt: skip
                    continue
                self._row(out, client, at, float(rng.uniform(300, 9000)), "virement", scenario, country=country,
                          channel=channel, beneficiary=mules[i % len(mules)], device=device)  # fmt: skip
        elif scenario == "card_testing":
            hour = float(rng.uniform(0, 24))
            country = str(rng.choice(FRAUD_COUNTRIES)) if rng.random() < 0.6 else "FR"
            minute = 0.0
            for _ in range(int(rng.integers(4, 9))):
                minute += float(rng.uniform(1, 6))
                mcc = str(rng.choice(RISKY_TEST_MCC))
                self._row(out, client, self._at(day, hour + minute / 60), float(rng.uniform(0.5, 9)), "carte",
                          scenario, country=country, channel="web", mcc=mcc)  # fmt: skip
            for _ in range(int(rng.integers(1, 4))):
                minute += float(rng.uniform(2, 20))
                mcc = str(rng.choice(CASHOUT_MCC))
                self._row(out, client, self._at(day, hour + minute / 60), float(rng.uniform(300, 2500)), "carte",
                          scenario, country=country, channel="web", mcc=mcc)  # fmt: skip
        elif scenario == "social_engineering":
            amount = max(800.0, usual * float(rng.uniform(3, 15)))
            self._row(out, client, self._at(day, self._hour()), amount, "virement", scenario, channel="web",
                      beneficiary=self._iban(), device=client.devices[0])  # fmt: skip
        elif scenario == "night_cashout":
            hour = float(rng.uniform(0, 5))
            country = str(rng.choice(FRAUD_COUNTRIES)) if rng.random() < 0.7 else "FR"
            for i in range(int(rng.integers(2, 5))):
                at = self._at(day, hour + i * float(rng.uniform(5, 30)) / 60)
                amount = float(rng.choice((100, 200, 300, 400, 500, 800)))
                self._row(out, client, at, amount, "retrait", scenario, country=country, channel="atm", mcc="6011")
        else:  # lookalike: a stolen card used the way its owner would (nothing to see but the label)
            for _ in range(int(rng.integers(1, 4))):
                amount = self._amount(client, float(rng.uniform(1, 3)))
                mcc = str(rng.choice(EVERYDAY_MCC))
                self._row(out, client, self._at(day, self._hour()), amount, "carte", scenario, channel="pos", mcc=mcc)
        return out

    def generate(self) -> Iterator[list[GeneratedTransaction]]:
        """Each client's transactions (legitimate and fraudulent together), in time order."""
        for n in range(self.clients):
            client = self._client(n)
            rows = self._legitimate(client)
            if self.rng.random() < self.fraud_share:
                rows += self._fraud(client, str(self.rng.choice(SCENARIOS, p=SCENARIO_MIX)))
            rows.sort(key=lambda r: r.facts.timestamp)
            yield rows
