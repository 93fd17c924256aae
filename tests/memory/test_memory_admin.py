"""The admin for staff: every user's memories, saved through the same services as the API (so
new text is embedded and a near-duplicate merges), bad input shown on the form, the embedding
space read-only."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from memory import services
from memory.models import EmbeddingSpace, Insight, Preference

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_embeddings")]

INSIGHTS = "/admin/memory/insight/"


@pytest.fixture
def staff_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def insight_form(user: Any, **fields: Any) -> dict[str, Any]:
    return {"user": user.pk, "content": "", "category": "fact", "importance": "0.5",
            "tier": "hot", **fields}  # fmt: skip


def test_staff_add_an_insight_and_it_is_embedded(staff_client: Client, alice: Any) -> None:
    response = staff_client.post(
        f"{INSIGHTS}add/", insight_form(alice, content="The user sings in a choir.")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row = Insight.objects.get(user=alice)
    assert row.content == "The user sings in a choir."
    assert len(row.embedding) == 384
    page = staff_client.get(f"{INSIGHTS}{row.pk}/change/").content.decode()
    assert "The user sings in a choir." in page
    assert "embedding" not in page.lower().split("<form")[1].split("</form>")[0]


def test_an_edit_in_the_admin_re_embeds(staff_client: Client, alice: Any) -> None:
    row = services.insight_save(user=alice, content="The user sings in a choir.").insight
    before = list(Insight.objects.get(pk=row.pk).embedding)
    response = staff_client.post(
        f"{INSIGHTS}{row.pk}/change/",
        insight_form(alice, content="The user plays drums in a band.", tier="archive"),
    )
    assert response.status_code == 302
    after = Insight.objects.get(pk=row.pk)
    assert (after.content, after.tier) == ("The user plays drums in a band.", "archive")
    assert list(after.embedding) != before


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"content": " "}, "required"), ({"content": "x" * 3000}, "limit is 2,000"),
     ({"content": "ok", "importance": "3"}, "importance")],
)  # fmt: skip
def test_bad_input_is_shown_on_the_form_and_nothing_is_saved(
    staff_client: Client, alice: Any, fields: dict[str, Any], message: str
) -> None:
    response = staff_client.post(f"{INSIGHTS}add/", insight_form(alice, **fields))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Insight.objects.exists()


def test_preferences_are_validated_like_the_api(staff_client: Client, alice: Any) -> None:
    bad = staff_client.post(
        "/admin/memory/preference/add/", {"user": alice.pk, "key": "Bad Key", "value": "x"}
    )
    assert bad.status_code == 200
    assert "a-z, 0-9" in bad.content.decode()
    good = staff_client.post(
        "/admin/memory/preference/add/", {"user": alice.pk, "key": "units", "value": "metric"}
    )
    assert good.status_code == 302
    assert Preference.objects.get(user=alice).value == "metric"


def test_the_embedding_space_is_read_only(staff_client: Client, alice: Any) -> None:
    services.insight_save(user=alice, content="The user sings in a choir.")
    space = EmbeddingSpace.objects.get()
    assert staff_client.get("/admin/memory/embeddingspace/").status_code == 200
    assert staff_client.get("/admin/memory/embeddingspace/add/").status_code == 403
    response = staff_client.post(f"/admin/memory/embeddingspace/{space.pk}/change/", {"dims": "5"})
    assert response.status_code == 403
    assert EmbeddingSpace.objects.get().dims == 384
