"""The Nitro Security Module device (``/dev/nsm``): how an enclave gets its attestation document.

The protocol is the one of AWS's ``aws-nitro-enclaves-nsm-api`` driver: one ``ioctl`` on the
device, ``NSM_IOCTL_RAW = _IOWR(0x0A, 0, struct nsm_raw)``, where ``struct nsm_raw`` is two
``iovec``s (request, response; 32 bytes on 64-bit Linux). The request is the CBOR encoding of the
Rust enum ``Request::Attestation { user_data, nonce, public_key }`` as serde writes it, i.e. the
map ``{"Attestation": {"user_data": bytes|null, "nonce": bytes|null, "public_key": bytes|null}}``;
the answer is ``{"Attestation": {"document": bytes}}`` or ``{"Error": "<ErrorCode>"}``. The driver
writes the answer's length back into the response ``iovec``.

The ``ioctl`` function is injectable so the encoding is tested without the device.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct
from collections.abc import Callable
from typing import Final

import cbor2

from k3s_daas.errors import UserError

__all__ = ["NSM_DEVICE", "NsmDevice", "NsmError", "decode_attestation_response", "encode_attestation_request"]

NSM_DEVICE: Final = "/dev/nsm"
NSM_MAGIC: Final = 0x0A
NSM_REQUEST_MAX: Final = 0x1000
NSM_RESPONSE_MAX: Final = 0x3000
_NSM_RAW: Final = struct.Struct("=QQQQ")  # request.addr, request.len, response.addr, response.len
# _IOWR(type, nr, size) = (read|write) << 30 | size << 16 | type << 8 | nr
NSM_IOCTL_RAW: Final = (3 << 30) | (_NSM_RAW.size << 16) | (NSM_MAGIC << 8) | 0
MAX_USER_FIELD: Final = 512  # the NSM's limit for user_data and nonce

Ioctl = Callable[[int, int, bytearray, bool], int]


class NsmError(UserError):
    """The NSM device is missing or refused the request."""


def encode_attestation_request(
    *, public_key: bytes | None = None, user_data: bytes | None = None, nonce: bytes | None = None
) -> bytes:
    for label, item in (("user_data", user_data), ("nonce", nonce)):
        if item is not None and len(item) > MAX_USER_FIELD:
            raise NsmError(f"{label} is {len(item)} bytes, the NSM takes at most {MAX_USER_FIELD}")
    request = cbor2.dumps({"Attestation": {"user_data": user_data, "nonce": nonce, "public_key": public_key}})
    if len(request) > NSM_REQUEST_MAX:
        raise NsmError(f"attestation request is {len(request)} bytes, the NSM takes at most {NSM_REQUEST_MAX}")
    return request


def decode_attestation_response(response: bytes) -> bytes:
    try:
        value = cbor2.loads(response)
    except (cbor2.CBORDecodeError, ValueError) as error:
        raise NsmError(f"NSM answered with invalid CBOR: {error}") from None
    if isinstance(value, dict) and "Error" in value:
        raise NsmError(f"NSM refused the attestation request: {value['Error']}")
    document = value.get("Attestation", {}).get("document") if isinstance(value, dict) else None
    if not isinstance(document, bytes):
        raise NsmError("NSM answer holds no attestation document")
    return document


class NsmDevice:
    """``/dev/nsm``, opened per request (the NSM serialises requests itself)."""

    def __init__(self, path: str = NSM_DEVICE, ioctl: Ioctl | None = None) -> None:
        self._path = path
        self._ioctl: Ioctl = ioctl or fcntl.ioctl

    @property
    def available(self) -> bool:
        return os.path.exists(self._path)  # noqa: PTH110 - a device node, not a project path

    def request(self, request: bytes) -> bytes:
        """One raw request/response exchange."""
        request_buffer = ctypes.create_string_buffer(request, len(request))
        response_buffer = ctypes.create_string_buffer(NSM_RESPONSE_MAX)
        message = bytearray(
            _NSM_RAW.pack(
                ctypes.addressof(request_buffer), len(request), ctypes.addressof(response_buffer), NSM_RESPONSE_MAX
            )
        )
        try:
            descriptor = os.open(self._path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as error:
            raise NsmError(
                f"cannot open the NSM device {self._path}: {error.strerror} (not in a Nitro enclave?)"
            ) from None
        try:
            self._ioctl(descriptor, NSM_IOCTL_RAW, message, True)
        except OSError as error:
            raise NsmError(f"NSM request failed: {error.strerror}") from None
        finally:
            os.close(descriptor)
        length = _NSM_RAW.unpack(bytes(message))[3]
        if length > NSM_RESPONSE_MAX:
            raise NsmError(f"NSM answered {length} bytes, more than its {NSM_RESPONSE_MAX}-byte buffer")
        return response_buffer.raw[:length]

    def attest(
        self, *, public_key: bytes | None = None, user_data: bytes | None = None, nonce: bytes | None = None
    ) -> bytes:
        """A signed attestation document (COSE_Sign1) binding the given fields."""
        request = encode_attestation_request(public_key=public_key, user_data=user_data, nonce=nonce)
        return decode_attestation_response(self.request(request))
