"""The scenario user agent reads pages as a browser would: which form posts itself, which is a login."""

from __future__ import annotations

from simulator.scenario.agent import parse_page

ONLOAD = """<html><body onload="document.forms[0].submit()"><form method="post" action="https://sp/acs">
<input type="hidden" name="SAMLResponse" value="PHI+"/><input type="hidden" name="RelayState" value="/x"/>
</form></body></html>"""
SCRIPTED = """<html><body><form id="f" method="post" action="https://idp/sso">
<input type="hidden" name="SAMLRequest" value="PHI+"/><noscript><button>Continue</button></noscript></form>
<script>document.getElementById('f').submit();</script></body></html>"""
LOGIN = """<html><body><form method="post" action="/t/a/login"><input name="email"/>
<input type="password" name="password"/><input type="hidden" name="next" value="/t/a/me"/></form>
<p>Error <code id="code">login_failed</code></p></body></html>"""


def test_an_onload_form_and_a_script_posted_saml_form_both_post_themselves() -> None:
    forms, _ = parse_page(ONLOAD)
    assert forms[0].auto_submit and forms[0].fields == {"SAMLResponse": "PHI+", "RelayState": "/x"}
    forms, _ = parse_page(SCRIPTED)
    assert forms[0].auto_submit and forms[0].action == "https://idp/sso"


def test_a_login_form_does_not_post_itself_and_the_error_code_is_read() -> None:
    forms, code = parse_page(LOGIN)
    assert not forms[0].auto_submit
    assert set(forms[0].fields) == {"email", "password", "next"}
    assert code == "login_failed"
