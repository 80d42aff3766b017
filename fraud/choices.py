"""Choices of the fraud domain."""

from __future__ import annotations

import unicodedata

from django.db import models


class TransactionType(models.TextChoices):
    VIREMENT = "virement", "Transfer"
    CARTE = "carte", "Card payment"
    PAIEMENT = "paiement", "Payment (bill or online purchase, not by card)"
    PRELEVEMENT = "prelevement", "Direct debit"
    RETRAIT = "retrait", "Cash withdrawal"
    CHEQUE = "cheque", "Cheque"
    DEPOT = "depot", "Deposit"


def transaction_type_canonical(text: str) -> str | None:
    """The canonical type of a caller's spelling, case and accents aside; None if it names none.

    ``"Dépôt"``, ``"depôt"`` and ``"DEPOT"`` are ``"depot"``; ``"Prélèvement"`` is
    ``"prelevement"``. What is stored, what rules compare and what the model sees is always
    the canonical value, so ``type == "depot"`` holds for a deposit however it was spelled.
    """
    decomposed = unicodedata.normalize("NFKD", text.strip())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return folded if folded in _TYPE_VALUES else None


_TYPE_VALUES = frozenset(TransactionType.values)


class Channel(models.TextChoices):
    WEB = "web", "Web"
    MOBILE = "mobile", "Mobile app"
    BRANCH = "branch", "Branch"
    ATM = "atm", "ATM"
    POS = "pos", "Point of sale"
    API = "api", "API"


class FraudDecisionOutcome(models.TextChoices):
    ALLOW = "allow", "Allow"
    REVIEW = "review", "Review"
    BLOCK = "block", "Block"


class RuleAction(models.TextChoices):
    """What a rule does when its condition holds, besides adding its weight to the score."""

    FLAG = "flag", "Flag (adds its weight to the score)"
    REVIEW = "review", "Review (at least review)"
    BLOCK = "block", "Block (always block)"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open (unassigned)"
    ASSIGNED = "assigned", "Assigned"
    RESOLVED = "resolved", "Resolved"


class AlertResolution(models.TextChoices):
    CONFIRMED_FRAUD = "confirmed_fraud", "Confirmed fraud"
    FALSE_POSITIVE = "false_positive", "False positive"


# ISO 3166-1 alpha-2: the 249 officially assigned codes (the standard's list, kept here
# rather than pulled from a package: it changes once every few years).
_ISO_3166_ALPHA_2 = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRY_CODES = frozenset(_ISO_3166_ALPHA_2.split())

# ISO 4217: the 176 active currency codes (the standard's list one, as published in
# 2026), without XTS (reserved for testing) and XXX (no currency): a transaction is in
# neither. Kept here for the same reason as the countries.
_ISO_4217 = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW
    CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL
    HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA
    MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD
    RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD
    USN UYI UYU UYW UZS VED VES VND VUV WST XAD XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR
    ZMW ZWG
"""
CURRENCY_CODES = frozenset(_ISO_4217.split())
