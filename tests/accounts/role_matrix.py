"""The role matrix (docs/access.md) as data: who gets which status where.

One ``Row`` per (method, path); ``expect`` gives the HTTP status for every principal.
``tests/accounts/test_role_matrix.py`` walks every cell, and checks that every API route
and every admin page of a registered model has at least one row.

Principals:
- ``admin``, ``analyst``, ``viewer``, ``compliance``: staff users in that role group,
  logged in by session (a bearer token with the same role gets the same answers on the API);
- ``anonymous``: no credential;
- ``apikey_score``, ``apikey_fraud``, ``apikey_read``: analyst-role API keys with exactly
  that one scope (scopes restrict API keys; roles decide for everyone else).

Adding an endpoint: append rows built with ``api(...)`` (API) or ``page(...)`` (admin).
Paths may use the placeholders filled by the ``matrix_objects`` fixture: ``{client_id}``
(a Client's external id), ``{client_pk}``, ``{api_key_pk}``, ``{superuser_pk}``, the GDPR
requests in each state (``{erasure_request_pk}``, ``{access_request_pk}``,
``{approved_access_pk}``, ``{held_erasure_pk}``, ``{done_erasure_pk}``), ``{legal_hold_pk}``
and ``{audit_event_pk}``; extend that fixture when a row needs another object. Examples for the routes still to come::

    api("POST", "/api/v1/score", body={"age": 35, "revenu": 50000, "historique_impaye": 1},
        admin=201, analyst=201, viewer=403, compliance=403, anonymous=401,
        apikey_score=201, apikey_fraud=403, apikey_read=403),
    api("GET", "/api/v1/predictions/", **READ),
    page("/admin/fraud/fraudalert/", view=STAFF),
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

STAFF_ROLES = ("admin", "analyst", "viewer", "compliance")
KEY_PRINCIPALS = ("apikey_score", "apikey_fraud", "apikey_read")
PRINCIPALS = (*STAFF_ROLES, "anonymous", *KEY_PRINCIPALS)
KEY_SCOPES = {"apikey_score": ["score"], "apikey_fraud": ["fraud"], "apikey_read": ["read"]}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expect: Mapping[str, int]
    body: Mapping[str, Any] | None = None
    form: bool = False  # admin POSTs are form-encoded, API bodies JSON
    files: Mapping[str, tuple[str, bytes]] | None = None  # multipart uploads: field -> (file name, content)
    note: str = ""
    kind: str = field(default="api")

    def __post_init__(self) -> None:
        missing = set(PRINCIPALS) - set(self.expect)
        if missing:
            raise ValueError(f"{self.method} {self.path}: no expected status for {sorted(missing)}")

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def api(
    method: str,
    path: str,
    body: Mapping[str, Any] | None = None,
    note: str = "",
    files: Mapping[str, tuple[str, bytes]] | None = None,
    **expect: int,
) -> Row:
    """An API row: every principal's status spelled out (``files``: a multipart upload)."""
    return Row(method=method, path=path, expect=expect, body=body, note=note, kind="api", files=files)


def page(
    path: str,
    view: Iterable[str] = (),
    method: str = "GET",
    ok: int = 200,
    form: Mapping[str, Any] | None = None,
    note: str = "",
) -> Row:
    """An admin row: roles in ``view`` get ``ok``, other staff 403, everyone else the login page (302).

    API keys are not admin credentials: to the admin they are anonymous.
    """
    allowed = set(view)
    expect = {role: (ok if role in allowed else 403) for role in STAFF_ROLES}
    expect.update({p: 302 for p in ("anonymous", *KEY_PRINCIPALS)})
    return Row(method=method, path=path, expect=expect, body=form, form=form is not None, note=note, kind="admin")


def not_offered(
    path: str,
    form: Mapping[str, Any],
    allowed: Iterable[str],
    readers: Iterable[str],
    note: str = "",
    offered_others: Iterable[str] = (),
) -> Row:
    """An admin action POSTed to a changelist: ``allowed`` roles run it (302 back to the list);
    ``readers`` see the list but are not offered the action, so Django answers the list again
    (200, "No action selected") and nothing happens; ``offered_others``, readers offered other
    actions of the list, are sent back to it instead (302, "No action selected"), nothing done;
    other staff 403.
    """
    row = page(path, view=allowed, method="POST", ok=302, form=form, note=note)
    readers = [*readers, *offered_others]
    return Row(
        method=row.method,
        path=row.path,
        expect={**row.expect, **dict.fromkeys(readers, 200), **dict.fromkeys(offered_others, 302)},
        body=row.body,
        form=True,
        note=note + " (not offered to " + ", ".join(readers) + ": 200, nothing done)",
        kind="admin",
    )


STAFF = STAFF_ROLES
READERS = ("admin", "analyst", "viewer")
DECIDERS = ("admin", "analyst")
ADMIN = ("admin",)
COMPLIANCE = ("compliance",)
AUDIT_READERS = ("admin", "compliance")

# Status sets reused by API rows.
READ = dict(
    admin=200,
    analyst=200,
    viewer=200,
    compliance=403,
    anonymous=401,
    apikey_score=403,
    apikey_fraud=403,
    apikey_read=200,
)
EVERYONE_200 = {p: 200 for p in PRINCIPALS}
DECIDE_SCORE = dict(
    admin=201,
    analyst=201,
    viewer=403,
    compliance=403,
    anonymous=401,
    apikey_score=201,
    apikey_fraud=403,
    apikey_read=403,
)
SEED_SCORE = {"age": 35, "revenu": 50000, "historique_impaye": 1}
SEED_FILE = {"file": ("seed.csv", b"age,revenu,historique_impaye\n35,50000,1\n")}
SUBMIT_BATCH = {**DECIDE_SCORE, "admin": 202, "analyst": 202, "apikey_score": 202}
LIST_BATCH = {**DECIDE_SCORE, "admin": 200, "analyst": 200, "apikey_score": 200}
# The matrix analyst's own job: admins see every job; another caller (the score key) gets a 404.
OWN_BATCH = {**LIST_BATCH, "apikey_score": 404}
DECIDE_FRAUD = dict(
    admin=201,
    analyst=201,
    viewer=403,
    compliance=403,
    anonymous=401,
    apikey_score=403,
    apikey_fraud=201,
    apikey_read=403,
)
SEED_FRAUD = {"transaction_id": "TX12345", "montant": 2000, "type": "virement", "client_id": "C1001"}
RULE_FORM = {
    "name": "high_amount",
    "condition": "amount >= 9000",
    "reason": "Amount {{amount}}.",  # {{ }}: the matrix fills {placeholders}
    "action": "review",
    "weight": "0.15",
    "order": "30",
    "is_active": "on",
    "versions-TOTAL_FORMS": "0",
    "versions-INITIAL_FORMS": "0",
    "versions-MIN_NUM_FORMS": "0",
    "versions-MAX_NUM_FORMS": "1000",
}

MATRIX: list[Row] = [
    # ---- API ---------------------------------------------------------------------------
    api("GET", "/api/v1/health", **EVERYONE_200, note="no authentication: load balancers"),
    api("GET", "/api/schema/", **EVERYONE_200, note="OpenAPI, public"),
    api("GET", "/api/docs/", **EVERYONE_200),
    api("GET", "/api/redoc/", **EVERYONE_200),
    api(
        "GET",
        "/metrics",
        **EVERYONE_200,
        note="not by role: METRICS_TOKEN (bearer); without it, loopback callers outside production (the test client)",
    ),
    api("GET", "/api/v1/clients/", **READ),
    api("GET", "/api/v1/clients/{client_id}/", **READ),
    api(
        "POST",
        "/api/v1/clients/",
        body={"client_id": "C9001", "last_name": "Martin"},
        admin=201,
        analyst=201,
        viewer=403,
        compliance=403,
        anonymous=401,
        apikey_score=201,
        apikey_fraud=403,
        apikey_read=403,
    ),
    api(
        "PATCH",
        "/api/v1/clients/{client_id}/",
        body={"last_name": "Durand"},
        admin=200,
        analyst=200,
        viewer=403,
        compliance=403,
        anonymous=401,
        apikey_score=200,
        apikey_fraud=403,
        apikey_read=403,
    ),
    api(
        "DELETE",
        "/api/v1/clients/{client_id}/",
        admin=405,
        analyst=405,
        viewer=403,
        compliance=403,
        anonymous=401,
        apikey_score=405,
        apikey_fraud=403,
        apikey_read=403,
        note="no deletion through the API, even for admins: erasure is a GDPR request",
    ),
    # ---- Credit decisions (a champion credit model is registered) -----------------------
    api("POST", "/api/v1/score", body=SEED_SCORE, **DECIDE_SCORE),
    api("POST", "/score", body=SEED_SCORE, **DECIDE_SCORE, note="root alias for seed clients"),
    api("POST", "/api/v1/score/batch", body={"items": [SEED_SCORE, SEED_SCORE]}, **DECIDE_SCORE),
    api("POST", "/api/v1/score/batch-jobs", files=SEED_FILE, **SUBMIT_BATCH, note="multipart upload: 202"),
    api("GET", "/api/v1/score/batch-jobs", **LIST_BATCH, note="each caller's own jobs; admins all"),
    api("GET", "/api/v1/score/batch-jobs/{batch_job_id}", **OWN_BATCH),
    api("GET", "/api/v1/score/batch-jobs/{batch_job_id}/result", **OWN_BATCH, note="CSV"),
    api("GET", "/api/v1/score/batch-jobs/{batch_job_id}/rejects", **OWN_BATCH, note="CSV"),
    api(
        "POST",
        "/api/v1/score/batch-jobs/{batch_job_id}/cancel",
        **{**OWN_BATCH, "admin": 409, "analyst": 409},
        note="the matrix job has ended: 409 naming its status for those who may cancel it",
    ),
    api("GET", "/api/v1/predictions/", **READ),
    api("GET", "/api/v1/predictions/{decision_id}/", **READ),
    api("GET", "/api/v1/predictions/{refused_decision_id}/notice", **READ, note="adverse-action notice (JSON)"),
    api("GET", "/api/v1/webhooks", **{**DECIDE_SCORE, "admin": 200, "analyst": 200, "apikey_score": 200}),
    api(
        "POST",
        "/api/v1/webhooks",
        body={"url": "https://lender.example/hooks/credit"},
        **DECIDE_SCORE,
        note="register a decision webhook",
    ),
    api(
        "GET",
        "/api/v1/predictions/{refused_decision_id}/notice",
        body={"format": "html"},
        **READ,
        note="adverse-action notice (printable HTML: ?format=html)",
    ),
    api(
        "POST",
        "/api/v1/predictions/{refused_decision_id}/contest",
        body={"statement": "My income has doubled."},
        **DECIDE_SCORE,
        note="a contest reopens a review case",
    ),
    api("GET", "/api/v1/models/", **READ),
    api("GET", "/api/v1/models/{model_pk}/", **READ),
    api(
        "POST",
        "/api/v1/models/{challenger_pk}/activate/",
        body={"status": "champion"},
        admin=200,
        analyst=403,
        viewer=403,
        compliance=403,
        anonymous=401,
        apikey_score=403,
        apikey_fraud=403,
        apikey_read=403,
        note="model activation: admin only",
    ),
    # ---- Model governance (issue 14) -------------------------------------------------------
    api(
        "POST",
        "/api/v1/outcomes",
        body={
            "items": [
                {"decision_id": "{decision_id}", "defaulted": True, "observed_on": "{today}", "horizon_months": 12}
            ]
        },
        **DECIDE_SCORE,
        note="observed outcomes: the loan servicing system (score scope), analysts, admins",
    ),
    # ---- Fraud decisions (no fraud model registered: the rules decide) ------------------
    api("POST", "/api/v1/fraude", body=SEED_FRAUD, **DECIDE_FRAUD),
    api("POST", "/fraude", body=SEED_FRAUD, **DECIDE_FRAUD, note="root alias for seed clients"),
    api("GET", "/api/v1/transactions/", **READ),
    api("GET", "/api/v1/transactions/{transaction_id}/", **READ),
    # ---- Admin pages -------------------------------------------------------------------
    page("/admin/", view=STAFF),
    page("/admin/scoring/client/", view=STAFF),
    page("/admin/scoring/client/add/", view=DECIDERS),
    page("/admin/scoring/client/{client_pk}/change/", view=STAFF, note="viewer and compliance: read-only form"),
    page(
        "/admin/scoring/client/{client_pk}/delete/",
        view=(),
        note="nobody deletes a person in the admin: a GDPR erasure request is the only way",
    ),
    page("/admin/scoring/creditapplication/", view=STAFF),
    page("/admin/scoring/creditapplication/add/", view=DECIDERS),
    page("/admin/scoring/decision/", view=STAFF),
    page("/admin/scoring/decision/add/", view=(), note="evidence: nobody adds or edits decisions"),
    page("/admin/scoring/batchjob/", view=DECIDERS, note="analysts see their own jobs, admins all"),
    page("/admin/scoring/batchjob/add/", view=DECIDERS, note="upload a batch file"),
    page("/admin/scoring/batchjob/{batch_job_id}/change/", view=DECIDERS, note="the analyst's job: progress"),
    page("/admin/scoring/batchjob/{batch_job_id}/result/", view=DECIDERS, note="result file download"),
    page("/admin/scoring/batchjob/{batch_job_id}/rejects/", view=DECIDERS, note="rejects file download"),
    page("/admin/scoring/batchjob/{batch_job_id}/delete/", view=(), note="jobs are evidence: never deleted"),
    page(
        "/admin/scoring/batchjob/{batch_job_id}/cancel/",
        method="POST",
        ok=302,
        view=DECIDERS,
        note="cancel button (the ended job: back to its page with the service's error)",
    ),
    page(
        "/admin/scoring/batchjob/",
        method="POST",
        ok=302,
        view=DECIDERS,
        form={"action": "cancel_jobs", "_selected_action": ["{batch_job_id}"]},
        note="action: cancel jobs (analysts: their own)",
    ),
    page("/admin/scoring/modelversion/", view=READERS),
    page("/admin/scoring/modelversion/add/", view=ADMIN, note="model registry: admin only"),
    page("/admin/fraud/transaction/", view=STAFF),
    page("/admin/fraud/fraudcheck/", view=STAFF),
    page("/admin/fraud/fraudrule/", view=READERS),
    page("/admin/fraud/fraudrule/add/", view=DECIDERS, note="analysts propose (always saved inactive)"),
    page("/admin/fraud/fraudrule/{draft_rule_pk}/change/", view=READERS, note="a draft: viewer read-only"),
    page("/admin/fraud/fraudrule/{rule_pk}/change/", view=READERS, note="an active rule: analyst read-only"),
    page(
        "/admin/fraud/fraudrule/{rule_pk}/change/",
        method="POST",
        ok=302,
        view=ADMIN,
        form=RULE_FORM,
        note="editing an active rule: admin only",
    ),
    page("/admin/fraud/fraudrule/{rule_pk}/delete/", view=(), note="rules are deactivated, never deleted"),
    page("/admin/fraud/fraudrule/backtest/", view=DECIDERS, note="back-test form: analyst and admin"),
    page(
        "/admin/fraud/fraudrule/backtest/",
        method="POST",
        view=DECIDERS,
        form={"condition": "amount >= 9000"},
        note="running a back-test is a POST (with CSRF): analyst and admin",
    ),
    page("/admin/fraud/fraudruleversion/", view=READERS, note="rule history"),
    page("/admin/fraud/fraudruleversion/add/", view=(), note="versions are made by rule changes only"),
    page("/admin/fraud/fraudalert/", view=READERS, note="the alert queue"),
    page("/admin/fraud/fraudalert/add/", view=(), note="alerts are opened by decisions only"),
    page("/admin/fraud/fraudalert/{alert_pk}/change/", view=READERS),
    page(
        "/admin/fraud/fraudalert/{open_alert_pk}/take/",
        method="POST",
        ok=302,
        view=DECIDERS,
        form={},
        note="an analyst takes an unassigned alert",
    ),
    page("/admin/fraud/fraudalert/{alert_pk}/assign/", view=ADMIN, note="assigning: admin only"),
    page("/admin/fraud/fraudalert/{alert_pk}/resolve/", view=DECIDERS, note="assigned to the analyst"),
    page(
        "/admin/fraud/fraudalert/{other_alert_pk}/resolve/",
        view=ADMIN,
        note="assigned to another analyst: only an admin besides the assignee",
    ),
    page("/admin/scoring/decision/{decision_id}/override/", view=DECIDERS, note="ask for an override review"),
    page("/admin/scoring/decisionwebhook/", view=ADMIN, note="callers' decision webhooks"),
    page("/admin/scoring/decisionwebhook/add/", view=(), note="registered by callers through the API"),
    page("/admin/scoring/webhookdelivery/", view=ADMIN, note="webhook deliveries and their attempts"),
    page("/admin/scoring/webhookdelivery/add/", view=(), note="made by final decisions only"),
    page("/admin/scoring/reviewcase/", view=READERS, note="the underwriters' review queue"),
    page("/admin/scoring/reviewcase/add/", view=(), note="cases are opened by referrals, overrides and contests"),
    page("/admin/scoring/reviewcase/{case_pk}/change/", view=READERS),
    page(
        "/admin/scoring/reviewcase/{open_case_pk}/take/",
        method="POST",
        ok=302,
        view=DECIDERS,
        form={},
        note="an analyst takes an unassigned case",
    ),
    page("/admin/scoring/reviewcase/{case_pk}/assign/", view=ADMIN, note="assigning: admin only"),
    page("/admin/scoring/reviewcase/{case_pk}/decide/", view=DECIDERS, note="assigned to the analyst"),
    page(
        "/admin/scoring/reviewcase/{other_case_pk}/decide/",
        view=ADMIN,
        note="assigned to another analyst: only an admin besides the assignee",
    ),
    page(
        "/admin/scoring/reviewcase/{waiting_case_pk}/approve/",
        method="POST",
        ok=302,
        view=DECIDERS,
        form={},
        note="four eyes: anyone with the approval right but the proposer",
    ),
    page(
        "/admin/scoring/reviewcase/{waiting_case_pk}/send-back/",
        method="POST",
        ok=302,
        view=DECIDERS,
        form={},
        note="the second person sends a proposal back",
    ),
    page("/admin/fraud/fraudsettings/", view=ADMIN, ok=302, note="thresholds: straight to the one row"),
    page("/admin/fraud/fraudsettings/1/change/", view=ADMIN, note="thresholds: admin only"),
    page("/admin/monitoring/apicall/", view=STAFF),
    page(
        "/admin/?start=2026-11-01&end=2026-11-07",
        view=STAFF,
        note="the dashboard: viewer and up; compliance the app index",
    ),
    page("/admin/monitoring/driftreport/", view=READERS, note="drift reports and their history chart"),
    page("/admin/monitoring/driftreport/{drift_report_pk}/change/", view=READERS),
    page("/admin/monitoring/driftreport/{drift_report_pk}/html/", view=READERS, note="Evidently's HTML report"),
    page("/admin/monitoring/driftreport/add/", view=(), note="reports are made by the nightly job or drift_report"),
    page(
        "/admin/scoring/decision/{decision_id}/permissions/",
        view=(),
        note="guardian object permissions (every model has them): the break-glass superuser only",
    ),
    page("/admin/django_celery_beat/periodictask/{nightly_task_pk}/change/", view=ADMIN, note="the nightly drift job"),
    page("/admin/accounts/apikey/", view=ADMIN),
    page("/admin/accounts/apikey/add/", view=ADMIN),
    page("/admin/accounts/oidcidentity/", view=ADMIN),
    page("/admin/auth/user/", view=ADMIN),
    page("/admin/auth/user/add/", view=ADMIN),
    page(
        "/admin/auth/user/{superuser_pk}/password/",
        view=(),
        note="only a superuser resets the break-glass account's password",
    ),
    page("/admin/auth/group/", view=ADMIN),
    page("/admin/axes/accessattempt/", view=ADMIN, note="login lockouts (django-axes): admins see and unlock"),
    page("/admin/auth/group/add/", view=(), note="roles are fixed: groups come from a migration"),
    page("/admin/django_celery_beat/periodictask/", view=ADMIN),
    page("/admin/django_celery_beat/crontabschedule/", view=ADMIN),
    page("/admin/django_celery_beat/intervalschedule/", view=ADMIN),
    page("/admin/django_celery_beat/solarschedule/", view=ADMIN),
    page("/admin/django_celery_beat/clockedschedule/", view=ADMIN),
    page("/admin/django_celery_results/taskresult/", view=ADMIN),
    page("/admin/django_celery_results/groupresult/", view=ADMIN),
    page("/admin/governance/outcome/", view=READERS, note="observed outcomes: evidence, read-only"),
    page("/admin/governance/outcome/import/", view=DECIDERS, note="CSV import of outcomes"),
    page("/admin/governance/outcome/add/", view=(), note="outcomes come in by the import, never typed in"),
    page("/admin/governance/performancereport/", view=READERS, note="performance on matured labels, with charts"),
    page("/admin/governance/performancereport/{performance_report_pk}/change/", view=READERS),
    page("/admin/governance/fairnessreport/", view=STAFF, note="fairness per group: compliance reads it too"),
    page("/admin/governance/fairnessreport/{fairness_report_pk}/change/", view=STAFF),
    page(
        "/admin/governance/promotionrequest/", view=AUDIT_READERS, note="four-eyes promotion: admins; compliance reads"
    ),
    page("/admin/governance/promotionrequest/add/", view=ADMIN, note="request a promotion"),
    page("/admin/governance/model-card/{model_pk}/", view=READERS, note="a version's model card (HTML; ?format=md)"),
    page(
        "/admin/governance/promotionrequest/{promotion_request_pk}/review/",
        view=AUDIT_READERS,
        note="the evidence; only another admin gets the approve button",
    ),
    # ---- Audit trail: read-only for everyone ----------------------------------------------
    page("/admin/audit/auditevent/", view=AUDIT_READERS),
    page("/admin/audit/auditevent/{audit_event_pk}/change/", view=AUDIT_READERS, note="read-only page"),
    page(
        "/admin/audit/auditevent/{audit_event_pk}/change/",
        method="POST",
        ok=302,
        view=(),
        form={"action": "x"},
        note="no role edits an event",
    ),
    page("/admin/audit/auditevent/{audit_event_pk}/delete/", view=(), note="no role deletes an event"),
    page("/admin/audit/auditevent/add/", view=(), note="events are written by the platform only"),
    page("/admin/audit/auditevent/verify/", view=AUDIT_READERS, ok=302, note="walks the hash chain"),
    # ---- GDPR requests and legal holds: compliance only ------------------------------------
    page("/admin/privacy/gdprrequest/", view=COMPLIANCE),
    page("/admin/privacy/gdprrequest/add/", view=COMPLIANCE),
    page("/admin/privacy/gdprrequest/{erasure_request_pk}/change/", view=COMPLIANCE, note="read-only; buttons"),
    page("/admin/privacy/gdprrequest/{erasure_request_pk}/delete/", view=(), note="requests are never deleted"),
    page(
        "/admin/privacy/gdprrequest/{access_request_pk}/approve/",
        method="POST",
        ok=302,
        view=COMPLIANCE,
        form={},
        note="approve (an erasure: another officer than its recorder)",
    ),
    page("/admin/privacy/gdprrequest/{erasure_request_pk}/reject/", view=COMPLIANCE),
    page(
        "/admin/privacy/gdprrequest/{held_erasure_pk}/run/",
        method="POST",
        ok=302,
        view=COMPLIANCE,
        form={},
        note="run an approved (deferred) erasure again",
    ),
    page(
        "/admin/privacy/gdprrequest/{approved_access_pk}/export/",
        method="POST",
        view=COMPLIANCE,
        form={},
        note="access export (JSON): a POST, the download answers the request",
    ),
    page("/admin/privacy/gdprrequest/{done_erasure_pk}/certificate/", view=COMPLIANCE, note="erasure certificate"),
    page("/admin/privacy/legalhold/", view=COMPLIANCE),
    page("/admin/privacy/legalhold/add/", view=COMPLIANCE),
    page("/admin/privacy/legalhold/{legal_hold_pk}/delete/", view=(), note="holds are released, never deleted"),
    page(
        "/admin/privacy/legalhold/",
        method="POST",
        ok=302,
        view=COMPLIANCE,
        form={"action": "release_holds", "_selected_action": ["{legal_hold_pk}"]},
        note="action: release holds",
    ),
    # ---- Admin actions -----------------------------------------------------------------
    page(
        "/admin/accounts/apikey/",
        method="POST",
        ok=302,
        view=ADMIN,
        form={"action": "revoke_keys", "_selected_action": ["{api_key_pk}"]},
        note="action: revoke API keys",
    ),
    not_offered(
        "/admin/scoring/batchjob/",
        form={"action": "retry_dead_letters", "_selected_action": ["{batch_job_id}"]},
        allowed=ADMIN,
        readers=(),
        offered_others=("analyst",),  # offered "cancel jobs"
        note="action: retry dead-lettered chunks",
    ),
    not_offered(
        "/admin/fraud/fraudrule/",
        form={"action": "activate_rules", "_selected_action": ["{draft_rule_pk}"]},
        allowed=ADMIN,
        readers=("analyst", "viewer"),
        note="action: activate rules",
    ),
    not_offered(
        "/admin/fraud/fraudrule/",
        form={"action": "deactivate_rules", "_selected_action": ["{rule_pk}"]},
        allowed=ADMIN,
        readers=("analyst", "viewer"),
        note="action: deactivate rules",
    ),
    not_offered(
        "/admin/fraud/fraudalert/",
        form={"action": "take_alerts", "_selected_action": ["{open_alert_pk}"]},
        allowed=DECIDERS,
        readers=("viewer",),
        note="action: take alerts",
    ),
    not_offered(
        "/admin/scoring/reviewcase/",
        form={"action": "take_cases", "_selected_action": ["{open_case_pk}"]},
        allowed=DECIDERS,
        readers=("viewer",),
        note="action: take review cases",
    ),
]
