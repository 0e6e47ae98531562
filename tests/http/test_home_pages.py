"""Each tenant's AMS and LMS front pages: where a newcomer clicking a URL from the banner lands."""

from __future__ import annotations

from typing import Any


def test_ams_front_page_offers_sign_in_store_and_idp_documents(ams: Any, make_tenant: Any) -> None:
    make_tenant("acme", settings={"branding": {"association_name": "Acme Nurses Association"}})
    response = ams.get("/t/acme/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Acme Nurses Association" in page
    for link in (
        "/t/acme/login",
        "/t/acme/store",
        "/t/acme/portal/transcript",
        "/t/acme/saml/metadata",
        "/t/acme/.well-known/openid-configuration",
    ):
        assert f'href="{link}' in page, link
        assert ams.get(link).status_code in (200, 302), link


def test_lms_front_page_offers_sign_in_when_nobody_is_signed_in(lms: Any, make_tenant: Any) -> None:
    make_tenant("acme")
    response = lms.get("/t/acme/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'href="/t/acme/login"' in page
    assert "signed-in" not in page
    assert lms.get("/t/acme/saml/metadata").status_code == 200


def test_front_pages_of_an_unknown_tenant_are_404(ams: Any, lms: Any) -> None:
    assert ams.get("/t/ghost/").status_code == 404
    assert lms.get("/t/ghost/").status_code == 404
