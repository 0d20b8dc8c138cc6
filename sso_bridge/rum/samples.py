"""DR's documented LoginRequest, as DR sends it: the demo prints it, the benchmark and the tests
send it. (Prefixed root, ``xsi:type`` on every leaf, ``xsi:nil`` for absent values.)"""

from __future__ import annotations

from xml.sax.saxutils import escape

from sso_bridge.rum.messages import COMMON_NAMESPACE, RUM_NAMESPACE


def dr_login_request(login: str, password: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ns1:LoginRequest xmlns:ns1="{RUM_NAMESPACE}"
    xmlns:ns2="{COMMON_NAMESPACE}"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <userKey xsi:type="ns2:UserKey">
    <userID xsi:type="xsd:string" xsi:nil="true"/>
    <externalReferenceID xsi:type="xsd:string" xsi:nil="true"/>
    <companyID xsi:type="xsd:string" xsi:nil="true"/>
    <loginID xsi:type="xsd:string">{escape(login)}</loginID>
    <siteID xsi:type="xsd:string" xsi:nil="true"/>
  </userKey>
  <password xsi:type="xsd:string">{escape(password)}</password>
  <extendedAttributes xsi:type="ns2:ExtendedAttributesInfoArray" xsi:nil="true"/>
</ns1:LoginRequest>""".encode()
