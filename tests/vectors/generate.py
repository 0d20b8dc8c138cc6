"""Writes tests/vectors/other.json: hashes made by the owners' own tools where they run here.

    .venv/bin/python tests/vectors/generate.py > tests/vectors/other.json

Needs, besides the project's venv: htpasswd (Debian apache2-utils), a MariaDB server on
127.0.0.1:3306 (root, no password), java (OpenJDK 17+) and a Werkzeug 2.2 wheel (the last
version with the "sha1$salt$hex" format): `pip download --no-deps -d /tmp/wz werkzeug==2.2.3`,
path in WERKZEUG22_WHEEL. The PHP platforms' vectors come from generate.php instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pymysql

PASSWORDS = ["correct horse battery staple", "pässwörd ✓ 密码"]


def htpasswd(flag: str, password: str) -> str:
    out = subprocess.run(
        ["htpasswd", "-nb" + flag, "user", password], capture_output=True, text=True, check=True
    ).stdout.strip()
    return out.split(":", 1)[1]


def mariadb_password(password: str) -> str:
    connection = pymysql.connect(host="127.0.0.1", user="root", database="test")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT PASSWORD(%s)", (password,))
            row = cursor.fetchone()
            assert row is not None
            return str(row[0])
    finally:
        connection.close()


# Keycloak's Pbkdf2PasswordHashProvider.encodedCredential, transcribed: the JCA PBKDF2 that
# Keycloak calls (PBKDF2WithHmacSHA1/256/512), a 16-byte salt, the key size in bits.
KEYCLOAK_JAVA = """
import java.util.Base64;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
public class Keycloak {
    public static void main(String[] a) throws Exception {
        String algorithm = a[0]; String password = a[1];
        int iterations = Integer.parseInt(a[2]); int bits = Integer.parseInt(a[3]);
        byte[] salt = new byte[16]; new java.security.SecureRandom().nextBytes(salt);
        String jca = algorithm.equals("pbkdf2") ? "PBKDF2WithHmacSHA1"
            : algorithm.equals("pbkdf2-sha256") ? "PBKDF2WithHmacSHA256" : "PBKDF2WithHmacSHA512";
        PBEKeySpec spec = new PBEKeySpec(password.toCharArray(), salt, iterations, bits);
        byte[] key = SecretKeyFactory.getInstance(jca).generateSecret(spec).getEncoded();
        System.out.println(Base64.getEncoder().encodeToString(key) + " "
            + Base64.getEncoder().encodeToString(salt));
    }
}
"""


def keycloak(algorithm: str, password: str, iterations: int, bits: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "Keycloak.java"
        source.write_text(KEYCLOAK_JAVA)
        out = subprocess.run(
            ["java", str(source), algorithm, password, str(iterations), str(bits)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        ).stdout.split()
    value, salt = out
    secret = json.dumps({"value": value, "salt": salt, "additionalParameters": {}})
    credential = json.dumps(
        {"hashIterations": iterations, "algorithm": algorithm, "additionalParameters": {}}
    )
    # CREDENTIAL.SECRET_DATA and CREDENTIAL_DATA as Keycloak stores them, joined as the bridge
    # reads them (sso_bridge.directory.passwords.keycloak_credential).
    return json.dumps({"secretData": secret, "credentialData": credential}, separators=(",", ":"))


def werkzeug22(method: str, password: str) -> str:
    wheel = os.environ["WERKZEUG22_WHEEL"]
    code = (
        "import sys; from werkzeug.security import generate_password_hash as g;"
        "print(g(sys.argv[1], method=sys.argv[2]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, password, method],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": wheel},
    ).stdout.strip()


def openldap_salted(prefix: str, algorithm: str, password: str, salt: bytes) -> str:
    # libraries/liblutil/passwd.c hash_ssha1 & co: base64(H(password . salt) . salt); chk_ssha1
    # accepts any decoded length above the digest size, i.e. any salt of at least one byte.
    digest = hashlib.new(algorithm, password.encode() + salt).digest()
    return prefix + base64.b64encode(digest + salt).decode()


def main() -> None:
    vectors: list[dict[str, Any]] = []

    def add(scheme: str, password: str, stored: str, source: str) -> None:
        vectors.append({"scheme": scheme, "password": password, "hash": stored, "source": source})

    for password in PASSWORDS:
        add("apr_md5_crypt", password, htpasswd("m", password), "Apache htpasswd -m (apr1)")
        add("mysql41", password, mariadb_password(password), "MariaDB 10.11 PASSWORD()")
        for method in ("sha1", "md5"):
            add(
                "werkzeug_legacy",
                password,
                werkzeug22(method, password),
                f"Werkzeug 2.2.3 generate_password_hash(method={method!r})",
            )
        for algorithm, iterations, bits in (
            ("pbkdf2-sha256", 27500, 512),
            ("pbkdf2-sha512", 210000, 512),
            ("pbkdf2", 20000, 512),
        ):
            add(
                "keycloak_pbkdf2",
                password,
                keycloak(algorithm, password, iterations, bits),
                f"Keycloak Pbkdf2PasswordHashProvider via JCA ({algorithm}, {iterations})",
            )
    # DES keeps 8 characters: short passwords, so a wrong one differs inside them.
    for password in ("s3cret!", "abcdefgh"):
        add("des_crypt", password, htpasswd("d", password), "Apache htpasswd -d (crypt DES)")
    for salt in (b"a", b"ab", b"abc"):
        for prefix, algorithm, scheme in (
            ("{SSHA}", "sha1", "ldap_salted_sha1"),
            ("{SMD5}", "md5", "ldap_salted_md5"),
            ("{SSHA256}", "sha256", "ldap_salted_sha256"),
            ("{SSHA512}", "sha512", "ldap_salted_sha512"),
        ):
            add(
                scheme,
                PASSWORDS[0],
                openldap_salted(prefix, algorithm, PASSWORDS[0], salt),
                f"OpenLDAP liblutil/passwd.c hash_s*/chk_s* rule, {len(salt)}-byte salt",
            )
    print(
        json.dumps(
            {"generator": "tests/vectors/generate.py", "vectors": vectors},
            indent=1,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
