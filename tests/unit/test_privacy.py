"""Per-person encryption: sealing, opening, crypto-shredding, blind indexes."""

from __future__ import annotations

import base64
import re
from uuid import uuid4

import pytest

from shared.privacy import (
    ERASED,
    RECORD_TOKEN_PREFIX,
    TOKEN_PATTERN,
    DataCategory,
    PersonalDataCipher,
    SubjectErasedError,
    category_of,
    subject_of,
)

from .memory_keystore import InMemoryKeyStore

pytestmark = pytest.mark.unit

NAME = "Erika Mustermann"


def tampered(token: str, at: int) -> str:
    """The token with one bit of its nonce-and-ciphertext blob flipped at byte ``at``."""
    head, _, body = token.rpartition(":")
    blob = bytearray(base64.urlsafe_b64decode(body))
    blob[at] ^= 0x01
    return f"{head}:{base64.urlsafe_b64encode(bytes(blob)).decode()}"


def test_sealed_value_opens_to_the_plaintext(cipher: PersonalDataCipher) -> None:
    subject = cipher.subject_for("123D456789")

    assert cipher.open(cipher.seal(subject, NAME)) == NAME
    assert cipher.open(cipher.seal(subject, "")) == ""
    assert cipher.open(cipher.seal(subject, "Gößweinstein Straße 5")) == "Gößweinstein Straße 5"


def test_token_has_the_published_format_and_hides_the_plaintext(
    cipher: PersonalDataCipher,
) -> None:
    subject = cipher.subject_for("123D456789")

    token = cipher.seal(subject, NAME)

    assert re.fullmatch(TOKEN_PATTERN, token)
    assert token.startswith(RECORD_TOKEN_PREFIX + subject.hex + ":")
    assert subject_of(token) == subject
    assert "Erika" not in token
    assert "Mustermann" not in token
    assert base64.urlsafe_b64encode(NAME.encode()).decode()[:8] not in token


def test_sealing_the_same_value_twice_gives_different_tokens(
    cipher: PersonalDataCipher,
) -> None:
    subject = cipher.subject_for("123D456789")

    first, second = cipher.seal(subject, NAME), cipher.seal(subject, NAME)

    assert first != second
    assert cipher.open(first) == cipher.open(second) == NAME


def test_optional_fields_stay_absent(cipher: PersonalDataCipher) -> None:
    subject = cipher.subject_for("123D456789")

    assert cipher.seal_optional(subject, None) is None
    assert cipher.open_optional(None) is None
    assert cipher.open_optional(cipher.seal_optional(subject, "0561 123456")) == "0561 123456"


def test_sealing_several_fields_at_once_seals_each_with_a_nonce_of_its_own(
    cipher: PersonalDataCipher,
) -> None:
    subject = cipher.subject_for("123D456789")

    tokens = cipher.seal_all(subject, [NAME, None, NAME, "0561 123456"])

    assert tokens[1] is None
    assert tokens[0] != tokens[2]
    assert [cipher.open_optional(token) for token in tokens] == [NAME, None, NAME, "0561 123456"]
    assert all(re.match(TOKEN_PATTERN, t) for t in tokens if t is not None)


def test_erased_subject_reads_as_erased_and_never_raises(
    cipher: PersonalDataCipher, keystore: InMemoryKeyStore
) -> None:
    subject = cipher.subject_for("123D456789")
    tokens = [cipher.seal(subject, NAME), cipher.seal(subject, "Kassel")]

    keystore.destroy(subject)

    assert cipher.open_all(tokens) == [ERASED, ERASED]
    assert cipher.open_optional(tokens[0]) == ERASED


def test_erasing_one_person_leaves_others_readable(
    cipher: PersonalDataCipher, keystore: InMemoryKeyStore
) -> None:
    erased, kept = cipher.subject_for("123D456789"), cipher.subject_for("456K000111")
    erased_token, kept_token = cipher.seal(erased, NAME), cipher.seal(kept, "Max Mustermann")

    keystore.destroy(erased)

    assert cipher.open(erased_token) == ERASED
    assert cipher.open(kept_token) == "Max Mustermann"


def test_sealing_for_an_erased_subject_is_refused(
    cipher: PersonalDataCipher, keystore: InMemoryKeyStore
) -> None:
    subject = cipher.subject_for("123D456789")
    keystore.destroy(subject)

    with pytest.raises(SubjectErasedError):
        cipher.seal(subject, NAME)
    with pytest.raises(SubjectErasedError):
        cipher.seal_optional(subject, NAME)


def test_token_of_an_unknown_subject_reads_as_erased(cipher: PersonalDataCipher) -> None:
    subject = cipher.subject_for("123D456789")
    token = cipher.seal(subject, NAME)

    foreign = token.replace(subject.hex, uuid4().hex)

    assert cipher.open(foreign) == ERASED


@pytest.mark.parametrize("at", [0, 11, 12, -1], ids=["nonce", "nonce-end", "ciphertext", "tag"])
def test_tampered_token_reads_as_erased(cipher: PersonalDataCipher, at: int) -> None:
    subject = cipher.subject_for("123D456789")
    token = cipher.seal(subject, NAME)

    assert cipher.open(tampered(token, at)) == ERASED


def test_token_moved_to_another_person_reads_as_erased(cipher: PersonalDataCipher) -> None:
    owner, other = cipher.subject_for("123D456789"), cipher.subject_for("456K000111")
    token = cipher.seal(owner, NAME)

    moved = token.replace(owner.hex, other.hex)

    assert cipher.open(moved) == ERASED


def test_opening_something_that_is_not_a_token_is_an_error(cipher: PersonalDataCipher) -> None:
    with pytest.raises(ValueError, match="not a sealed personal field"):
        cipher.open(NAME)


def test_subject_of_an_identity_is_stable(cipher: PersonalDataCipher) -> None:
    assert cipher.subject_for("123D456789") == cipher.subject_for(" 123d456789 ")
    assert cipher.subject_for("123D456789") != cipher.subject_for("456K000111")


def test_blind_index_is_stable_and_ignores_case_and_surrounding_whitespace(
    cipher: PersonalDataCipher,
) -> None:
    reference = cipher.blind_index("open-case", "kassel", "123D456789")

    assert cipher.blind_index("open-case", "kassel", "123D456789") == reference
    assert cipher.blind_index(" Open-Case", "KASSEL ", "\t123d456789\n") == reference
    assert len(reference) == 32
    assert b"123D456789" not in reference


def test_blind_index_separates_its_parts(cipher: PersonalDataCipher) -> None:
    assert cipher.blind_index("ab", "c") != cipher.blind_index("a", "bc")
    assert cipher.blind_index("kassel", "123D456789") != cipher.blind_index("borken", "123D456789")


def test_blind_index_differs_with_another_key(keystore: InMemoryKeyStore) -> None:
    one = PersonalDataCipher(keystore, b"first-blind-index-key")
    other = PersonalDataCipher(keystore, b"second-blind-index-key")

    assert one.blind_index("123D456789") != other.blind_index("123D456789")


@pytest.mark.parametrize("body", ["AAAA", "not*base64", ""])
def test_a_damaged_token_body_reads_as_erased(cipher: PersonalDataCipher, body: str) -> None:
    subject = cipher.subject_for("123D456789")
    token = cipher.seal(subject, NAME)
    damaged = token.rsplit(":", 1)[0] + ":" + body

    assert cipher.open(damaged) == ERASED


# --- data categories: a key per person and category ----------------------------------------

NOTE = "Wohnung verwahrlost, Nachbarin kümmert sich"


def test_a_category_token_opens_and_names_its_category(cipher: PersonalDataCipher) -> None:
    subject = cipher.subject_for("123D456789")

    token = cipher.seal(subject, NOTE, DataCategory.VISIT_NOTE)

    assert token.startswith(f"pii:v2:{subject.hex}:visit_note:")
    assert not re.fullmatch(TOKEN_PATTERN, token)  # contracts carry record tokens only
    assert subject_of(token) == subject
    assert category_of(token) == "visit_note"
    assert category_of(cipher.seal(subject, NAME)) == "record"
    assert "Nachbarin" not in token
    assert cipher.open(token) == NOTE
    assert cipher.open_optional(cipher.seal_optional(subject, NOTE, "visit_note")) == NOTE


def test_the_category_key_is_its_own(
    cipher: PersonalDataCipher, keystore: InMemoryKeyStore
) -> None:
    subject = cipher.subject_for("123D456789")
    cipher.seal(subject, NOTE, DataCategory.VISIT_NOTE)

    assert keystore.data_key(subject, "visit_note") not in (None, keystore.data_key(subject))


def test_destroying_a_category_erases_only_that_category(
    cipher: PersonalDataCipher, keystore: InMemoryKeyStore
) -> None:
    subject = cipher.subject_for("123D456789")
    name = cipher.seal(subject, NAME)
    notes = [cipher.seal(subject, NOTE, DataCategory.VISIT_NOTE) for _ in range(2)]

    keystore.destroy(subject, DataCategory.VISIT_NOTE)

    assert cipher.open_all(notes) == [ERASED, ERASED]
    assert cipher.open(name) == NAME
    assert cipher.subject_for("123D456789") == subject  # the person is still known


def test_a_note_after_its_category_was_erased_gets_a_new_key_old_notes_stay_erased(
    cipher: PersonalDataCipher, keystore: InMemoryKeyStore
) -> None:
    subject = cipher.subject_for("123D456789")
    old = cipher.seal(subject, NOTE, DataCategory.VISIT_NOTE)
    keystore.destroy(subject, DataCategory.VISIT_NOTE)

    new = cipher.seal(subject, "neuer Besuch", DataCategory.VISIT_NOTE)

    assert cipher.open(new) == "neuer Besuch"
    assert cipher.open(old) == ERASED


def test_erasing_the_person_erases_every_category(
    cipher: PersonalDataCipher, keystore: InMemoryKeyStore
) -> None:
    subject = cipher.subject_for("123D456789")
    tokens = [cipher.seal(subject, NAME), cipher.seal(subject, NOTE, DataCategory.VISIT_NOTE)]

    keystore.destroy(subject)

    assert cipher.open_all(tokens) == [ERASED, ERASED]
    with pytest.raises(SubjectErasedError):
        cipher.seal(subject, NOTE, DataCategory.VISIT_NOTE)


def test_a_v1_token_stays_the_record_category(
    cipher: PersonalDataCipher, keystore: InMemoryKeyStore
) -> None:
    subject = cipher.subject_for("123D456789")
    v1 = cipher.seal(subject, NAME)

    keystore.destroy(subject, DataCategory.VISIT_NOTE)

    assert v1.startswith("pii:v1:")
    assert cipher.open(v1) == NAME


def test_a_token_moved_to_another_category_reads_as_erased(cipher: PersonalDataCipher) -> None:
    subject = cipher.subject_for("123D456789")
    cipher.seal(subject, NOTE, DataCategory.VISIT_NOTE)
    record = cipher.seal(subject, NAME)

    relabelled = record.replace("pii:v1:", "pii:v2:").replace(
        subject.hex + ":", subject.hex + ":visit_note:", 1
    )

    assert cipher.open(relabelled) == ERASED


@pytest.mark.parametrize("category", ["unknown", "record"])
def test_a_v2_token_of_an_unknown_or_the_record_category_reads_as_erased(
    cipher: PersonalDataCipher, category: str
) -> None:
    subject = cipher.subject_for("123D456789")
    token = cipher.seal(subject, NOTE, DataCategory.VISIT_NOTE)

    assert cipher.open(token.replace(":visit_note:", f":{category}:")) == ERASED


def test_sealing_into_an_unknown_category_is_an_error(cipher: PersonalDataCipher) -> None:
    subject = cipher.subject_for("123D456789")

    with pytest.raises(ValueError, match="unknown data category"):
        cipher.seal(subject, NOTE, "diary")
