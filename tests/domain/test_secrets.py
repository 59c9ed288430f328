"""Every credential form is masked, alone and inside realistic messages; nothing else is."""

import pytest

from domain.secrets import MASK, encode_credentials, mask_secrets, url_secrets

PASSWORD = "Sup3r-Secr3t"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # user:password@, encoded or not
        (
            "postgresql+psycopg2://toar:Sup3r-Secr3t@db.example:5432/toar",
            "postgresql+psycopg2://toar:***@db.example:5432/toar",
        ),
        ("postgresql+psycopg2://toar:Sup3r%40Secr3t@db.example/toar", "postgresql+psycopg2://toar:***@db.example/toar"),
        ("postgresql+psycopg2://toar:Sup3r@Secr3t@db.example/toar", "postgresql+psycopg2://toar:***@db.example/toar"),
        (
            "postgresql://toar:a@b:c/d@Secr3t@db.example:5432/toar?sslmode=require",
            "postgresql://toar:***@db.example:5432/toar?sslmode=require",
        ),
        ("s3://AKIAEXAMPLE:Sup3r/Secr3t+key@bucket/prefix", "s3://AKIAEXAMPLE:***@bucket/prefix"),
        ("mysql://:Sup3r-Secr3t@host/db", "mysql://:***@host/db"),
        # query parameters, any case
        (
            "postgresql+psycopg2://toar@db.example/toar?password=Sup3r-Secr3t",
            "postgresql+psycopg2://toar@db.example/toar?password=***",
        ),
        (
            "postgresql://db/toar?sslmode=require&PASSWORD=Sup3r-Secr3t&application_name=toar",
            "postgresql://db/toar?sslmode=require&PASSWORD=***&application_name=toar",
        ),
        (
            "https://h/x?passwd=a&pwd=b&secret=c&token=d&key=e&api_key=f&apiKey=g&access_token=h&sig=i",
            "https://h/x?passwd=***&pwd=***&secret=***&token=***&key=***&api_key=***&apiKey=***&access_token=***&sig=***",
        ),
        (
            "https://b.s3.amazonaws.com/k.ndjson?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20140101"
            "&X-Amz-Date=20140101T000000Z&X-Amz-Security-Token=FwoG&X-Amz-Signature=5d672d79",
            "https://b.s3.amazonaws.com/k.ndjson?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***"
            "&X-Amz-Date=20140101T000000Z&X-Amz-Security-Token=***&X-Amz-Signature=***",
        ),
        (
            "https://b.s3.amazonaws.com/k?AWSAccessKeyId=AKIA&Expires=1&Signature=abc%3D",
            "https://b.s3.amazonaws.com/k?AWSAccessKeyId=***&Expires=1&Signature=***",
        ),
        # key=value DSNs, quoted values too
        (
            "host=db.example port=5432 password=Sup3r-Secr3t dbname=toar",
            "host=db.example port=5432 password=*** dbname=toar",
        ),
        ("host=db.example password='Sup3r Secr3t' dbname=toar", "host=db.example password=*** dbname=toar"),
        (r"host=db password = 'it\'s Secr3t' user=toar", "host=db password = *** user=toar"),
        ('host=db sslpassword="Sup3r Secr3t" user=toar', "host=db sslpassword=*** user=toar"),
        ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG", "aws_secret_access_key=***"),
        # a secret parameter inside another parameter's value
        ("https://login/?next=https://h/x?token=Sup3r-Secr3t", "https://login/?next=https://h/x?token=***"),
        # already masked: unchanged
        ("postgresql://toar:***@db/toar?password=***", "postgresql://toar:***@db/toar?password=***"),
    ],
)
def test_every_credential_form_is_masked(text, masked):
    assert mask_secrets(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "sqlite:////data/toar.sqlite",
        "sqlite:////data/a@b:c.sqlite",
        "s3://openaq-fetches/realtime-gzipped",
        "postgresql+psycopg2://postgres@127.0.0.1:5432/toar",
        "/home/user/openaq-mirror",
        "monkey=banana keyword=x partition=2014-01-01 tokens_seen",
        'connection to server at "127.0.0.1", port 1 failed: Connection refused',
    ],
)
def test_what_holds_no_credential_is_unchanged(text):
    assert mask_secrets(text) == text


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg2://toar:Sup3r@Secr3t@127.0.0.1:1/toar",
        "postgresql+psycopg2://toar:Sup3r%40Secr3t@127.0.0.1:1/toar",
        "postgresql+psycopg2://toar@127.0.0.1:1/toar?password=Sup3r@Secr3t",
    ],
)
def test_realistic_error_messages_quoting_the_url_are_masked(url):
    messages = [
        f"Could not parse SQLAlchemy URL from string '{url}'",
        f"(psycopg2.OperationalError) connection to {url} failed: Connection refused\n"
        "\tIs the server running on that host and accepting TCP/IP connections?\n\n"
        "(Background on this error at: https://sqlalche.me/e/21/e3q8)",
        f'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
        f"sqlalchemy.exc.ArgumentError: bad URL {url}, or {url.replace('127.0.0.1', 'db')}.",
        f"mlflow.exceptions.MlflowException: API request to {url}/api/2.0/mlflow/runs/create failed",
    ]
    for message in messages:
        masked = mask_secrets(message, url_secrets(url))
        assert "Secr3t" not in masked and "Sup3r" not in masked, masked
        assert "127.0.0.1" in masked and MASK in masked


def test_a_driver_quoting_the_end_of_a_password_as_a_host_name_is_masked():
    """What psycopg2 said when SQLAlchemy ended the password at its first "@"."""
    url = "postgresql+psycopg2://toar:Sup3r@Secr3t@127.0.0.1:1/toar"
    message = (
        '(psycopg2.OperationalError) could not translate host name "Secr3t@127.0.0.1" to address: '
        "Name or service not known"
    )
    assert mask_secrets(message, url_secrets(url)) == (
        '(psycopg2.OperationalError) could not translate host name "***127.0.0.1" to address: Name or service not known'
    )


def test_given_secrets_are_masked_as_written_and_percent_encoded():
    text = "user toar with Sup3r@Secr3t, or Sup3r%40Secr3t, from a config file"
    assert mask_secrets(text, ["Sup3r@Secr3t"]) == "user toar with ***, or ***, from a config file"


def test_url_secrets_are_the_password_and_secret_parameters_decoded_too():
    assert url_secrets("postgresql://toar:Sup3r%40Secr3t@db/toar?password=x%26y&sslmode=require") == [
        "Sup3r%40Secr3t",
        "Sup3r@Secr3t",
        "x%26y",
        "x&y",
    ]
    assert url_secrets("sqlite:////data/toar.sqlite") == []


def test_encode_credentials_makes_the_password_and_query_values_whole_url_components():
    import sqlalchemy as sa

    for url, password in [
        ("postgresql+psycopg2://toar:Sup3r@Secr3t@db:5432/toar", "Sup3r@Secr3t"),
        ("postgresql+psycopg2://toar:Sup3r%40Secr3t@db:5432/toar", "Sup3r@Secr3t"),
        ("postgresql+psycopg2://toar:Sup3r@Sec:r3/t@db:5432/toar", "Sup3r@Sec:r3/t"),
        ("postgresql+psycopg2://toar:a%3Fb@db:5432/toar?application_name=x@y", "a?b"),
    ]:
        parsed = sa.engine.make_url(encode_credentials(url))
        assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database) == (
            "toar",
            password,
            "db",
            5432,
            "toar",
        )
    parsed = sa.engine.make_url(encode_credentials("postgresql+psycopg2://toar@db:5432/toar?password=Sup3r@Secr3t"))
    assert (parsed.username, parsed.host, parsed.port, parsed.query) == (
        "toar",
        "db",
        5432,
        {"password": "Sup3r@Secr3t"},
    )
    for url in ["sqlite:////data/toar.sqlite", "postgresql+psycopg2://toar@db/toar?password=x"]:
        assert encode_credentials(url) == url
