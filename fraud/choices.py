"""Choices of the fraud domain."""

from django.db import models


class TransactionType(models.TextChoices):
    VIREMENT = "virement", "Transfer"
    CARTE = "carte", "Card payment"
    PRELEVEMENT = "prelevement", "Direct debit"
    RETRAIT = "retrait", "Cash withdrawal"
    CHEQUE = "cheque", "Cheque"
    DEPOT = "depot", "Deposit"


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
