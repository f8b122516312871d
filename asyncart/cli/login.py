"""``asyncart login [--url URL] [--key-stdin]``: store an API key for a server URL."""

from __future__ import annotations

import sys

import click

from asyncart.client.credentials import check_key_transport, display_url, store_key
from asyncart.config import Settings
from asyncart.errors import ConfigError

EXAMPLES = """\b
Examples:
  asyncart login --url https://artifacts.example.com       # prompts for the key
  echo "$KEY" | asyncart login --url https://artifacts.example.com --key-stdin
"""


@click.command(epilog=EXAMPLES)
@click.option("--url", default=None, help="Server URL (default: ASYNCART_URL).")
@click.option("--key-stdin", is_flag=True, help="Read the key from standard input.")
def login(url: str | None, key_stdin: bool) -> None:
    """Store an API key for a server in the credentials file (mode 0600).

    The key is read with a hidden prompt (or from stdin) and never printed. Clients
    use it for that URL whenever ASYNCART_API_KEY is unset. A plain http:// URL whose
    host is not loopback is refused before the key is read (the key would cross the
    network in clear text) unless ASYNCART_ALLOW_INSECURE_KEY=1.
    """
    settings = Settings.from_env()
    target = url or settings.url
    if not target:
        raise click.UsageError("no server URL: pass --url or set ASYNCART_URL")
    settings = settings.with_overrides(url=target.rstrip("/"))  # checks the scheme
    check_key_transport(settings, target, action="store an API key for")  # before reading it
    if key_stdin:
        key = sys.stdin.readline().strip()
    else:
        key = click.prompt("API key", hide_input=True, err=True).strip()
    if not key:
        raise ConfigError(
            "no API key given; paste the key 'asyncart server admin create-key' printed"
        )
    path = store_key(settings, target, key)
    click.echo(f"stored the API key for {display_url(target)} in {path}")
