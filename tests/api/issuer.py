"""A real OpenID provider's public side on loopback, for the identity tests: an RSA key made
here, its JWKS and discovery document served over HTTP by the standard library's server in a
thread, and access tokens signed with PyJWT."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "ltflow-api"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class Issuer:
    """Publishes the public halves of its keys (RSA ``k1``, and any added: RS256 or, for EC
    P-256 keys, ES256); counts how often its key set is fetched."""

    def __init__(self) -> None:
        self.keys: dict[str, SigningKey] = {"k1": rsa_key()}
        #: The discovery document's ``issuer`` (another's, to test that it is checked).
        self.claimed_issuer: str | None = None
        self.jwks_fetches = 0
        self.discovery_fetches = 0
        issuer = self
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(issuer))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._running = True

    @property
    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            if isinstance(key, rsa.RSAPrivateKey):
                jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            else:
                jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": _alg(key)})
        return {"keys": keys}

    @property
    def metadata(self) -> dict[str, Any]:
        return {"issuer": self.claimed_issuer or self.url, "jwks_uri": f"{self.url}/jwks"}

    def token(
        self,
        *,
        kid: str = "k1",
        key: SigningKey | None = None,
        lifetime: float = 300,
        **claims: Any,
    ) -> str:
        """An access token for this API, signed with the key ``kid`` (or ``key``); a claim given
        as None is left out."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "5b0e7c1a-3f2d-4e8b-9a6c-1d2e3f4a5b6c",
            "name": "Ingrid Facilitator",
            "iat": now,
            "exp": now + int(lifetime),
        }
        body.update(claims)
        body = {name: value for name, value in body.items() if value is not None}
        signing = key if key is not None else self.keys[kid]
        return jwt.encode(body, signing, algorithm=_alg(signing), headers={"kid": kid})

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._server.shutdown()
            self._server.server_close()


def _alg(key: SigningKey) -> str:
    return "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"


def _handler(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                issuer.discovery_fetches += 1
                self._answer(issuer.metadata)
            elif self.path == "/jwks":
                issuer.jwks_fetches += 1
                self._answer(issuer.jwks)
            else:
                self.send_error(404)

        def _answer(self, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def silent_issuer() -> Iterator[str]:
    """The address of a server that accepts connections and never answers (a hung provider)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def unsigned(claims: dict[str, Any]) -> str:
    """A token with ``alg: none`` and no signature."""
    return jwt.encode(claims, key=None, algorithm="none", headers={"kid": "k1"})
