"""Open hosts: domains under which anyone can publish or collect data, so an egress ``allow``
that covers them is a way out for whatever the agent read (sandbox-threats.md class 11:
``*.github.com`` also allows ``gist.github.com``).

:func:`broad_allow_warnings` is run on the egress guard's ``allow`` list at load; each hit is
a ``W_BROAD_EGRESS`` warning located at the pattern (``codor policy lint`` and ``codor check``
show it). It warns, it does not refuse: a team may mean it, and the policy stays theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from codor.policy.schema import PolicyWarning

__all__ = ["DROP_HOSTS", "OPEN_DOMAINS", "broad_allow_warnings"]

#: domain → how data leaves through it. A wildcard at, above or below one of these covers
#: hosts anyone can create or post to.
OPEN_DOMAINS: Final[dict[str, str]] = {
    "github.com": "gist.github.com and uploads.github.com take anyone's uploads",
    "gitlab.com": "anyone's snippets and repositories live there",
    "bitbucket.org": "anyone's repositories live there",
    "amazonaws.com": "anyone's S3 buckets and API gateways live there",
    "cloudfront.net": "anyone's distributions live there",
    "core.windows.net": "anyone's Azure storage accounts live there",
    "azurewebsites.net": "anyone's web apps live there",
    "googleapis.com": "storage.googleapis.com holds anyone's buckets",
    "appspot.com": "anyone's App Engine apps live there",
    "cloudfunctions.net": "anyone's cloud functions live there",
    "run.app": "anyone's Cloud Run services live there",
    "web.app": "anyone's Firebase sites live there",
    "firebaseio.com": "anyone's Firebase databases live there",
    "herokuapp.com": "anyone's apps live there",
    "vercel.app": "anyone's deployments live there",
    "netlify.app": "anyone's sites live there",
    "pages.dev": "anyone's Cloudflare Pages live there",
    "workers.dev": "anyone's Cloudflare Workers live there",
    "fly.dev": "anyone's apps live there",
    "onrender.com": "anyone's services live there",
    "glitch.me": "anyone's apps live there",
    "repl.co": "anyone's repls live there",
    "ngrok.io": "anyone's tunnels end there",
    "ngrok-free.app": "anyone's tunnels end there",
    "ngrok.app": "anyone's tunnels end there",
    "trycloudflare.com": "anyone's tunnels end there",
    "loca.lt": "anyone's tunnels end there",
}
#: hosts whose whole purpose is to take data (an exact allow of one is a way out too)
DROP_HOSTS: Final[dict[str, str]] = {
    "gist.github.com": "where anyone can post gists",
    "uploads.github.com": "where release assets are uploaded",
    "pastebin.com": "a paste site",
    "hastebin.com": "a paste site",
    "paste.ee": "a paste site",
    "termbin.com": "a paste site",
    "0x0.st": "a file drop",
    "transfer.sh": "a file drop",
    "file.io": "a file drop",
    "webhook.site": "a request collector",
    "requestbin.com": "a request collector",
    "pipedream.net": "a request collector",
    "beeceptor.com": "a request collector",
    "hooks.slack.com": "the endpoint of anyone's Slack webhooks",
    "discord.com": "the home of anyone's Discord webhooks",
    "api.telegram.org": "where any bot can send messages",
}
#: second-level labels under which country-code domains are sold (``*.co.uk`` is a TLD's worth)
_PUBLIC_SECOND_LEVEL: Final = frozenset({"co", "com", "net", "org", "ac", "gov", "edu", "ne",
                                         "or", "go", "gv"})


def _public_suffix_like(domain: str) -> bool:
    labels = domain.split(".")
    return len(labels) == 1 or (len(labels) == 2 and labels[0] in _PUBLIC_SECOND_LEVEL
                                and len(labels[1]) == 2)


def _host_part(pattern: str) -> str:
    if pattern.startswith("[") or pattern.count(":") != 1:
        return pattern.lower().rstrip(".")
    return pattern.partition(":")[0].lower().rstrip(".")


def broad_allow_warnings(label: str, patterns: Sequence[str],
                         locations: Sequence[str | None]) -> list[PolicyWarning]:
    """``W_BROAD_EGRESS`` warnings for ``patterns`` (an allow list named ``label``)."""
    out: list[PolicyWarning] = []
    for i, pattern in enumerate(patterns):
        where = locations[i] if i < len(locations) else None
        host = _host_part(pattern)
        why: str | None = None
        if host == "*":
            why = "allows every host: any data the agent can read can leave"
        elif host.startswith("*."):
            domain = host[2:]
            if _public_suffix_like(domain):
                why = f"allows every host under .{domain}"
            else:
                for open_domain, how in (*OPEN_DOMAINS.items(), *DROP_HOSTS.items()):
                    if open_domain == domain or open_domain.endswith("." + domain) or \
                            domain.endswith("." + open_domain):
                        why = f"covers {open_domain} ({how})"
                        break
        elif host in DROP_HOSTS:
            why = f"is {DROP_HOSTS[host]}"
        if why is not None:
            advice = "name the exact hosts you need" if "*" in host else \
                "allow it only if data may go there"
            out.append(PolicyWarning(where, f"{label}: {pattern!r} {why}; {advice}",
                                     "W_BROAD_EGRESS"))
    return out
