"""Settings of the four channels: `[email]`, `[sms]`, `[webhook]` and `[tasks]` of tenure.toml.

Secrets (SMTP password, SMS token, webhook key) are never settings: a setting names the
environment variable that holds them, so tenure.toml can be shared and logged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class EmailSettings(_Section):
    host: str = Field("localhost", description="SMTP server that relays the shop's email (e.g. smtp.example.com).")
    port: int = Field(25, ge=1, le=65535, description="SMTP port: 587 for STARTTLS submission, 465 for implicit "
                      "TLS, 25 for a local relay.")
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="'starttls': upgrade the connection and refuse to send if the server does not "
        "offer it; 'tls': TLS from the first byte (port 465); 'none': clear text, only for a relay on this machine.")
    username: str = Field("", description="SMTP login; empty: no login.")
    password_env: str = Field(
        "TENURE_SMTP_PASSWORD", description="Name of the environment variable that holds the SMTP password "
        "(the password itself is never written in tenure.toml or a log).")
    ca_file: str = Field(
        "", description="PEM file of the certificate authorities trusted for the server's TLS certificate; "
        "empty: the system's trust store.")
    from_address: str = Field("shop@example.com", description="Sender address (From) of every email.")
    from_name: str = Field("", description="Sender name shown with from_address, e.g. 'Example Shop'.")
    reply_to: str = Field("", description="Reply-To address; empty: replies go to from_address.")
    unsubscribe_mailto: str = Field(
        "", description="Address for the mailto form of the List-Unsubscribe header (besides the one-click "
        "link when messaging.public_url is set); empty: none.")
    timeout_seconds: float = Field(30, gt=0, description="Timeout of the connection and of each SMTP command.")


class SmsSettings(_Section):
    url: str = Field(
        "", description="The SMS provider's HTTP endpoint. Twilio: https://api.twilio.com/2010-04-01/Accounts/"
        "{AccountSid}/Messages.json with auth = 'basic', username = the Account SID, body_format = 'form'.")
    auth: Literal["none", "basic", "bearer"] = Field(
        "none", description="How the request authenticates: 'basic' (username and the token as password, "
        "Twilio), 'bearer' (Authorization: Bearer token) or 'none'.")
    username: str = Field("", description="User name of basic auth (Twilio: the Account SID).")
    password_env: str = Field(
        "TENURE_SMS_TOKEN", description="Name of the environment variable that holds the provider's token "
        "(basic auth password or bearer token).")
    from_number: str = Field("", description="Sender number or name, in the provider's format (e.g. +441234567890).")
    body_format: Literal["json", "form"] = Field(
        "json", description="Request body: 'json' or 'form' (application/x-www-form-urlencoded; Twilio wants form).")
    fields: dict[str, str] = Field(
        default_factory=lambda: {"To": "{{ to }}", "From": "{{ from }}", "Body": "{{ body }}"},
        description="The request's fields, each a small template over to, from, body, key and customer_id "
        "(Twilio's names by default).")
    timeout_seconds: float = Field(10, gt=0, description="Timeout of one request.")
    max_attempts: int = Field(3, ge=1, description="Tries of one send on a 5xx reply or a timeout before it is "
                              "left for a later run.")
    backoff_seconds: float = Field(0.5, ge=0, description="Wait before the second try, doubling after each.")


class WebhookSettings(_Section):
    url: str = Field("", description="URL that receives each webhook step as a JSON POST.")
    secret_env: str = Field(
        "TENURE_WEBHOOK_SECRET", description="Name of the environment variable that holds the HMAC key signing "
        "the body (header signature_header: sha256=<hex>).")
    signature_header: str = Field("X-Tenure-Signature", description="Header carrying the body's HMAC-SHA256.")
    timeout_seconds: float = Field(10, gt=0, description="Timeout of one request.")
    max_attempts: int = Field(4, ge=1, description="Tries of one POST on a 5xx reply, a timeout or a refused "
                              "connection before it is left for a later run; a 4xx is never retried.")
    backoff_seconds: float = Field(0.5, ge=0, description="Wait before the second try, doubling after each.")


class TaskSettings(_Section):
    webhook_url: str = Field(
        "", description="When set, each new manager task is also POSTed there as JSON, signed like webhooks "
        "(e.g. a helpdesk or chat integration); empty: tasks are kept in the operational store only.")
    secret_env: str = Field(
        "TENURE_WEBHOOK_SECRET", description="Name of the environment variable that holds the HMAC key signing "
        "task POSTs.")
