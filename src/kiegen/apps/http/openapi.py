"""The OpenAPI 3.0 description of the app, written by hand (every route, status and body), and checked
against the running app by schemathesis in ``tests/http``."""

from __future__ import annotations

from typing import Any

from kiegen.core.jobs import JobStatus
from kiegen.core.models import InputType, Media, ModelKind
from kiegen.services import CallbackOutcome

__all__ = ["openapi_document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}, **extra}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_NULLABLE_STRING = {"type": "string", "nullable": True}

_SCHEMAS: dict[str, Any] = {
    "Generation": {
        "type": "object",
        "required": ["id", "status", "model", "media", "input", "result_urls", "error", "created_at", "deadline_at"],
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": [s.value for s in JobStatus]},
            "model": {"type": "string"},
            "media": {
                "type": "string",
                "enum": [m.value for m in Media],
                "description": "What the results are: images, or a video (an MP4 or WebM at each result URL).",
            },
            "input": {"type": "object", "description": "The model's inputs, normalized (defaults applied)."},
            "user_id": _NULLABLE_STRING,
            "task_id": {**_NULLABLE_STRING, "description": "KIE's task id, once createTask answered."},
            "result_urls": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Where KIE keeps the results (about 24 hours): images, or videos when media is video.",
            },
            "error": {
                "type": "object",
                "nullable": True,
                "properties": {"code": _NULLABLE_STRING, "message": _NULLABLE_STRING},
            },
            "late": {"type": "boolean", "description": "Succeeded after it had been timed out."},
            "price": {"type": "integer"},
            "kie_credits": {
                "type": "number",
                "nullable": True,
                "description": "What KIE reported it charged for the task (null while unknown).",
            },
            "created_at": {"type": "string", "format": "date-time"},
            "submitted_at": {**_NULLABLE_STRING, "format": "date-time"},
            "completed_at": {**_NULLABLE_STRING, "format": "date-time"},
            "deadline_at": {"type": "string", "format": "date-time"},
        },
    },
    "GenerationRequest": {
        "type": "object",
        "example": {"model": "z-image", "input": {"prompt": "a red fox in the snow"}},
        "required": ["model", "input"],
        "additionalProperties": False,
        "properties": {
            "model": {"type": "string", "description": "A model id of GET /v1/models."},
            "input": {"type": "object", "description": "The model's inputs (see GET /v1/models)."},
            "webhook_url": {
                "type": "string",
                "format": "uri",
                "maxLength": 2048,
                "description": (
                    "Where to POST the finished generation (Standard Webhooks, signed): a public http(s) URL "
                    "without whitespace or control characters."
                ),
            },
            "user_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "description": (
                    "Which of the API key's users it is for (credits, quota, Idempotency-Key scope); user ids "
                    "are the key's own: another key's user of the same name is another user. Default: the key "
                    "itself. Ids starting with tg: or apikey: are reserved (422)."
                ),
            },
        },
    },
    "Problem": {
        "type": "object",
        "required": ["field", "message", "fix"],
        "properties": {
            "field": {"type": "string"},
            "value": {"description": "The value given (any JSON value)."},
            "message": {"type": "string"},
            "fix": {"type": "string"},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "problems": {"type": "array", "items": _ref("Problem")},
                    "balance": {"type": "integer"},
                    "needed": {"type": "integer"},
                },
            }
        },
    },
    "Model": {
        "type": "object",
        "required": ["id", "title", "kind", "media", "price", "enabled", "inputs"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "kind": {"type": "string", "enum": [k.value for k in ModelKind]},
            "media": {"type": "string", "enum": [m.value for m in Media]},
            "description": {"type": "string"},
            "price": {"type": "integer", "description": "Credits an end user pays per generation (0: free)."},
            "kie_credits": {
                "type": "number",
                "nullable": True,
                "description": "KIE's price per task where the model's KIE page states one.",
            },
            "deadline_s": {"type": "number", "description": "How long a generation may take before it times out."},
            "docs": {"type": "string", "nullable": True, "description": "KIE's documentation of the model."},
            "enabled": {"type": "boolean", "description": "Offered to people by the operator's apps."},
            "inputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "type", "required"],
                    "properties": {
                        "name": {"type": "string"},
                        "type": {"type": "string", "enum": ["enum", *(t.value for t in InputType)]},
                        "required": {"type": "boolean"},
                        "enum": {"type": "array", "nullable": True, "items": {}},
                        "min": {"type": "number", "nullable": True},
                        "max": {"type": "number", "nullable": True},
                        "min_length": {"type": "integer", "nullable": True},
                        "max_length": {"type": "integer", "nullable": True},
                        "min_items": {"type": "integer", "nullable": True},
                        "max_items": {"type": "integer", "nullable": True},
                        "default": {"description": "Any JSON value, or null."},
                        "description": {"type": "string"},
                    },
                },
            },
        },
    },
    "CallbackAnswer": {
        "type": "object",
        "required": ["outcome"],
        "properties": {"outcome": {"type": "string", "enum": [o.value for o in CallbackOutcome]}},
    },
    "Readiness": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["ready", "not_ready"]},
            "database": {"type": "string"},
            "migration": _NULLABLE_STRING,
            "head": {"type": "string"},
            "reason": {"type": "string"},
        },
    },
}

_AUTH: list[dict[str, list[str]]] = [{"bearer": []}]
_UNAUTHORIZED = _error("No valid API key (KIEGEN_API_KEYS) in Authorization: Bearer.")
_CALLBACK_BODY = {
    "required": False,
    "content": {"application/json": {"schema": {"description": "KIE's callback body, as KIE sends it."}}},
}


def _callback_responses() -> dict[str, Any]:
    answer = _ref("CallbackAnswer")
    return {
        "200": _json(answer, "Authenticated: stored before this answer (readable, unreadable or duplicate)."),
        "202": _json(answer, "A hint only: the task will be checked with KIE; the body changed nothing."),
        "403": _json(answer, "Wrong token: refused, nothing stored."),
        "404": _json(answer, "No such job (or no known task on the bare path)."),
        "400": _error("job_id or taskId holds what no database stores (a NUL character, an unpaired surrogate)."),
        "408": _error("The body did not arrive in time."),
        "413": _error("Body over the size limit."),
        "429": _error("This address sent too many callbacks that proved nothing; see Retry-After."),
    }


def _paths() -> dict[str, Any]:
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/v1/generations": {
            "post": {
                "summary": "Start a generation",
                "operationId": "createGeneration",
                "security": _AUTH,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": (
                            "Scoped to the API key and the user_id: the same key with the same request returns "
                            "the same generation; with another request it answers 422 idempotency_key_reused."
                        ),
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("GenerationRequest")}},
                },
                "responses": {
                    "202": _json(_ref("Generation"), "Accepted: stored, submitted to KIE (or queued for it)."),
                    "401": _UNAUTHORIZED,
                    "402": _error("The user's credits do not cover the model's price."),
                    "408": _error("The body did not arrive in time."),
                    "413": _error("Body over the size limit."),
                    "422": _error(
                        "The request is invalid (problems lists every field that is wrong), or its "
                        "Idempotency-Key was used for another request (code idempotency_key_reused)."
                    ),
                    "429": _error("The user's free quota for today is used up."),
                },
            }
        },
        "/v1/generations/{job_id}": {
            "get": {
                "summary": "A generation (long-polls with ?wait)",
                "operationId": "getGeneration",
                "security": _AUTH,
                "parameters": [
                    job_id,
                    {
                        "name": "wait",
                        "in": "query",
                        "required": False,
                        "description": "Answer once the generation is finished, or after this many seconds.",
                        "schema": {"type": "number", "minimum": 0, "maximum": 60},
                    },
                ],
                "responses": {
                    "200": _json(_ref("Generation"), "The generation as stored."),
                    "401": _UNAUTHORIZED,
                    "404": _error("No such generation, or another API key's."),
                    "422": _error("wait is not a number from 0 to 60, or job_id holds a NUL character."),
                },
            }
        },
        "/v1/models": {
            "get": {
                "summary": "The models and their inputs",
                "operationId": "listModels",
                "security": _AUTH,
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["models"],
                            "properties": {"models": {"type": "array", "items": _ref("Model")}},
                        },
                        "Every model with the rules of each input.",
                    ),
                    "401": _UNAUTHORIZED,
                },
            }
        },
        "/callbacks/kie/{job_id}": {
            "post": {
                "summary": "KIE's callback for one job (the callBackUrl kiegen gives KIE)",
                "operationId": "kieCallback",
                "parameters": [
                    job_id,
                    {"name": "token", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
                "requestBody": _CALLBACK_BODY,
                "responses": _callback_responses(),
            }
        },
        "/callbacks/kie": {
            "post": {
                "summary": "A callback without a job id: only a hint to check the task it names (or KIE-signed)",
                "operationId": "kieCallbackBare",
                "requestBody": _CALLBACK_BODY,
                "responses": _callback_responses(),
            }
        },
        "/healthz": {
            "get": {
                "summary": "The process answers",
                "operationId": "healthz",
                "responses": {"200": _json({"type": "object", "properties": {"status": {"type": "string"}}}, "Alive.")},
            }
        },
        "/readyz": {
            "get": {
                "summary": "The database answers and its schema is at the migration head",
                "operationId": "readyz",
                "responses": {
                    "200": _json(_ref("Readiness"), "Ready."),
                    "503": _json(_ref("Readiness"), "Not ready (the reason is given)."),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
            }
        },
    }


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "kiegen HTTP service",
            "version": "1",
            "description": (
                "Image generation on KIE.ai, delivered exactly once: a REST API for other services, "
                "KIE's callbacks, health and metrics. Finished generations with a webhook_url are POSTed there, "
                "signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature), with a body "
                '{"type": "generation.succeeded" | "generation.failed" | "generation.timed_out", "data": Generation}.'
            ),
        },
        "paths": _paths(),
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document
