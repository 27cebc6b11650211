"""The approval decision as the run itself checks it (separation of duties).

The HTTP endpoint that receives a signed link raises ``ApprovalDecision`` on the approval orchestration
carrying the link's signed fields and an attestation (an HMAC, with the same signing key, over the run,
the request id and the approver the endpoint established). The orchestration hands every such event to
the ``verify_approval`` activity, which accepts it only if the link's signature is valid, unexpired and
for exactly this run, model version and image digest, and the approver is attested (and listed in
``model.yaml`` ``approval.approvers`` when the model lists any). Anyone able to raise Durable events (the
master key, the Durable system key, a function key, the SDK client) but not holding a valid link decides
nothing: the attempt is refused, logged and recorded, and the run keeps waiting.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from contract import ApprovalRequest, Decision, DecisionCheck, DecisionEvent
from factory.approval import LinkError, sig_digest, verify_link_digest
from factory.card import clean_reason
from factory.fields import as_dict

UNAUTHENTICATED = "unauthenticated link holder"


def _attestation(key: str, run_id: str, request_id: str, approver: str, reason: str = "") -> str:
    message = "\n".join(("approver", run_id, request_id, approver, reason)).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def decision_event(key: str, run_id: str, decision: str, params: dict[str, str], approver: str,
                   request_id: str, reason: str = "") -> dict[str, Any]:
    """What the approval endpoint raises for a link it verified: the link's signed fields with the signature
    kept only as its SHA-256 (``sig_sha256``: the event enters the Durable history, which must not hold a usable
    link), the attested approver and the approver's reason (a reject's, optional; attested with the approver)."""
    link = {"run_id": run_id, "decision": decision, **{k: params.get(k, "") for k in ("v", "d", "exp")},
            "sig_sha256": sig_digest(params.get("sig", ""))}
    return DecisionEvent(decision=Decision(decision), request_id=request_id, approver=approver, link=link,
                         decision_reason=reason,
                         attestation=_attestation(key, run_id, request_id, approver, reason)).to_dict()


MAX_NAME = 120  # characters of a claimed approver kept in the record


def _printable(value: Any, limit: int) -> str:
    """``value`` as text fit for a record and a page: printable characters only, at most ``limit``."""
    text = value if isinstance(value, str) else ""
    return "".join(ch for ch in text if ch.isprintable())[:limit]


def _refuse(reason: str, event: Any, attested: bool = False) -> DecisionCheck:
    """A refusal, with who tried: the approver the endpoint attested (``attested``), else whatever name the
    event claims, recorded as a claim (anyone raising events can write any name there)."""
    fields = as_dict(event)
    link = as_dict(fields.get("link"))
    return DecisionCheck(accepted=False, reason=reason, request_id=_printable(fields.get("request_id"), 64),
                         approver=_printable(fields.get("approver"), MAX_NAME), attested=attested,
                         decision=_printable(fields.get("decision") or link.get("decision"), 16))


def check_decision(request: ApprovalRequest, event: Any, keys: list[str], now: float | None = None
                   ) -> DecisionCheck:
    """Accepted, with the decision, the attested approver, the request id and the approver's reason; or
    refused, with the reason and who tried (see ``_refuse``).

    ``request`` is the approval's input (its run, version, digest and approvers); ``event`` is the
    ``ApprovalDecision`` event's data as raised: any shape, from anyone able to raise events.
    """
    fields = as_dict(event)
    if not isinstance(event, dict):
        return _refuse("the decision is not an object", event)
    raw_link, request_id, approver = fields.get("link"), fields.get("request_id"), fields.get("approver")
    link = as_dict(raw_link)
    if not isinstance(raw_link, dict):
        return _refuse("the decision carries no signed link", event)
    if not isinstance(request_id, str) or not isinstance(approver, str) or not approver:
        return _refuse("the decision has no request id or approver", event)
    if link.get("run_id") != request.run_id:
        return _refuse("the link is for another run", event)
    if "sig_sha256" not in link and isinstance(link.get("sig"), str):  # a raw signature, as raised by hand
        link = {**link, "sig_sha256": sig_digest(str(link["sig"]))}
    try:
        claim = verify_link_digest(request.run_id, str(link.get("decision")), link, keys,
                                   time.time() if now is None else now)
    except LinkError as err:
        return _refuse(f"the link was refused: {err}", event)
    if (claim.version, claim.digest) != (request.version, request.digest):
        return _refuse("the link is for another model version or image", event)
    reason = fields.get("decision_reason") or ""
    if not isinstance(reason, str):
        return _refuse("the decision's reason is not text", event)
    attested = any(key and hmac.compare_digest(_attestation(key, claim.run_id, request_id, approver, reason),
                                               str(fields.get("attestation", ""))) for key in keys)
    if not attested:
        return _refuse("the approver is not attested by the approval endpoint", event)
    if request.approvers and approver not in request.approvers:
        return _refuse(f"{approver} is not one of the model's approvers", event, attested=True)
    return DecisionCheck(accepted=True, decision=claim.decision, approver=approver, request_id=request_id,
                         decision_reason=clean_reason(reason))
