"""The bot-detection plugin's handler: Kong's built-in list (real bot, library and browser
User-Agents), allow before deny before the list, Kong's 400/403 bodies, the per-config verdict
cache, and the search-equivalent forms of Kong's rules checked against the originals."""

from __future__ import annotations

import random
import re
import time

import pytest
from reqkit import refusal, request
from tests.kits.plugins import handler
from tests.kits.plugins import problems as problems_of

from carbonplane.gateway.plugins.bot_detection import handler as bot_handler
from carbonplane.gateway.plugins.bot_detection.rules import RULES, SEARCH_FORMS, SEARCHED

BROWSERS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "curl/8.4.0",
    "python-requests/2.31.0",
    "PostmanRuntime/7.36.0",
]
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Go-http-client/1.1",
    "Apache-HttpClient/4.5.13 (Java/11.0.2)",
    "okhttp/4.9.0",
    "axios/1.6.2",
    "Python-urllib/3.11",
    "aws-sdk-go/1.44.0 (go1.20; linux; amd64)",
    "Scrapy/2.11.0 (+https://scrapy.org)",
    "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
    "my-custom-crawler",
]


def bot_detection(**config):
    return handler("bot-detection", config)


def verdict(h, agent):
    return h.on_request(request(headers=[("User-Agent", agent)]))


@pytest.mark.parametrize("agent", BOTS)
def test_kongs_list_refuses_bots_with_403_forbidden(agent):
    status, body, _ = refusal(verdict(bot_detection(), agent))
    assert (status, body["message"]) == (403, "Forbidden")


@pytest.mark.parametrize("agent", BROWSERS)
def test_browsers_and_tools_kong_does_not_list_pass(agent):
    assert verdict(bot_detection(), agent) is None


def test_allow_beats_deny_and_the_list_deny_beats_the_rest():
    h = bot_detection(allow=["Googlebot"], deny=["^curl/", r"Chrome/\d+"])
    assert verdict(h, BOTS[0]) is None  # Googlebot, allowed
    assert refusal(verdict(h, BOTS[1]))[0] == 403  # bingbot, built-in list
    assert refusal(verdict(h, "curl/8.4.0"))[0] == 403
    assert refusal(verdict(h, BROWSERS[0]))[0] == 403
    assert verdict(h, "  curl-like  ") is None
    assert refusal(verdict(h, "   curl/8 "))[0] == 403  # stripped before matching
    assert verdict(h, "\xa0curl/8") is None  # only ASCII whitespace is stripped


def test_no_user_agent_passes_and_two_are_a_400():
    assert bot_detection().on_request(request()) is None
    ctx = request(headers=[("User-Agent", "a"), ("User-Agent", "b")])
    status, body, _ = refusal(bot_detection().on_request(ctx))
    assert (status, body["message"]) == (400, "Only one User-Agent header allowed")


def test_rules_are_case_sensitive_and_ascii_like_pcre():
    h = bot_detection(deny=[r"^\w+$"])
    assert refusal(verdict(h, "abc"))[0] == 403
    assert verdict(h, "ab\xe9") is None  # \w is ASCII-only without PCRE's UTF flag
    assert verdict(bot_detection(deny=["evil"]), "EVIL") is None


def test_verdicts_are_cached_per_config_and_bounded(monkeypatch):
    h = bot_detection(deny=["x"])
    calls = []
    examine = h.examine
    monkeypatch.setattr(h, "examine", lambda agent: calls.append(agent) or examine(agent))
    for _ in range(3):
        verdict(h, "x-agent")
        verdict(h, "y-agent")
    assert calls == ["x-agent", "y-agent"]
    monkeypatch.setattr(bot_handler, "CACHE_SIZE", 10)
    for i in range(50):
        verdict(h, f"agent-{i}")
    assert len(h.verdicts) == 10 and "agent-49".encode() in h.verdicts


def test_invalid_regexes_are_refused_at_config_time():
    assert problems_of("bot-detection", {"deny": ["ok", "(unclosed"]}) == [
        "config.deny.1: invalid regex: '(unclosed' (missing ), unterminated subpattern at "
        "position 0)"
    ]
    assert problems_of("bot-detection", {"allow": [r"(?<name>bot)"]}) == []
    h = bot_detection()
    assert h.PRIORITY == 2500 and h.config == {"allow": (), "deny": ()}


# -- the reduced rules ---------------------------------------------------------------------

_PIECES = [
    "bot",
    "Bot",
    "spider",
    "Spider",
    "SPIDER",
    "crawl",
    "Crawler",
    "crawling",
    "scrape",
    "Scraper",
    "archiver",
    "Indexer",
    "/",
    " ",
    "  ",
    "-",
    "_",
    ".",
    "1",
    "2.0",
    "v3",
    "/1.2",
    " 4",
    "the ",
    "Mozilla/5.0",
    "(compatible;",
    "Googlebot",
    "bingbot",
    "axios",
    "okhttp",
    "Go-http-client",
    "favicon",
    "Nutch",
    "Yandex",
    "abc",
    "XYZ",
    "!",
    "[",
    "]",
    ":",
    "é",
]


def _corpus(n: int = 3000) -> list[str]:
    rng = random.Random(20261207)
    out = BOTS + BROWSERS
    for _ in range(n):
        out.append("".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 12))))
    return out


@pytest.mark.parametrize("index", sorted(SEARCH_FORMS))
def test_each_reduced_rule_finds_exactly_what_kongs_rule_finds(index):
    original = re.compile(RULES[index], re.ASCII)
    reduced = SEARCHED[index]
    hits = 0
    for agent in _corpus():
        found = original.search(agent) is not None
        assert found == (reduced.search(agent) is not None), (index, agent)
        hits += found
    assert hits > 20  # the corpus does exercise the rule


def test_hostile_user_agents_cost_milliseconds_not_seconds():
    h = bot_detection()
    for agent in (" " * 8000, "a" * 8000, "A " * 4000, "a1_" * 2666):
        start = time.process_time()
        assert verdict(h, agent) is None
        assert time.process_time() - start < 0.5, agent[:10]
