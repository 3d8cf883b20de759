r"""Kong's built-in bad-bot list (``kong/plugins/bot-detection/rules.lua``), which Kong took
from ua-parser's ``uap-core/regexes.yaml`` (Apache-2.0). Each is a regular expression searched
for anywhere in the (stripped) User-Agent, case-sensitively; any match marks a bot. They
compile unchanged with Python's ``re``.

Only "does any rule match" matters, so ``SEARCHED`` holds each rule in its search-equivalent
form: an optional prefix (one that may match empty) before a rule's core, and an optional suffix
after it, cannot change whether a search finds a match, so they are dropped, as is all of a
required ``(\d+)...`` tail but its first digit. Python's backtracking engine otherwise spends
quadratic time on those prefixes (``{0,50}`` classes tried at every position): each general
matcher took about 110 ms on a 2 KB User-Agent of spaces as written; reduced, under 2 ms on
8 KB.
The unit tests check each reduced rule against Kong's on a corpus of real and hostile
User-Agents.

Notable: common HTTP client libraries (``Apache-HttpClient``, ``Go-http-client``,
``okhttp``, ``axios``, ``Python-urllib``, ...) are on the list; ``curl`` and
``python-requests`` are not.
"""

from __future__ import annotations

import re

RULES: tuple[str, ...] = (
    # Pingdom
    r"(Pingdom\.com_bot_version_)(\d+)\.(\d+)",
    # Facebook link previews
    r"(facebookexternalhit)/(\d+)\.(\d+)",
    # Google+ snippets
    r"Google.*/\+/web/snippet",
    # Twitter
    r"(Twitterbot)/(\d+)\.(\d+)",
    # Amazon S3 clients and SDKs
    (
        r"\b(Boto3?|JetS3t|aws-(?:cli|sdk-(?:cpp|go|java|nodejs|ruby2?|dotnet-(?:\d{1,2}|core)))|"
        r"s3fs)/(\d+)\.(\d+)(?:\.(\d+)|)"
    ),
    # WebPageTest (PTST)
    r" PTST/\d+(?:\.)?\d+$",
    # '/name-1.0' crawlers (Nutch, *bot, *spider, ...)
    (
        r"/((?:Ant-)?Nutch|[A-z]+[Bb]ot|[A-z]+[Ss]pider|Axtaris|fetchurl|Isara|ShopSalad|"
        r"Tailsweep)[ \-](\d+)(?:\.(\d+)(?:\.(\d+))?)?"
    ),
    # 'name/1.0' crawlers
    (
        r"\b(008|Altresium|Argus|BaiduMobaider|BoardReader|DNSGroup|DataparkSearch|EDI|Goodzer|"
        r"Grub|INGRID|Infohelfer|LinkedInBot|LOOQ|Nutch|OgScrper|PathDefender|Peew|PostPost|"
        r"Steeler|Twitterbot|VSE|WebCrunch|WebZIP|Y!J-BR[A-Z]|YahooSeeker|envolk|sproose|"
        r"wminer)/(\d+)(?:\.(\d+)|)(?:\.(\d+)|)"
    ),
    # MSIECrawler
    r"(MSIE) (\d+)\.(\d+)([a-z]\d|[a-z]|);.* MSIECrawler",
    # HTTP client libraries (Apache-HttpClient, Go-http-client, okhttp, axios, ...)
    (
        r"(Google-HTTP-Java-Client|Apache-HttpClient|Go-http-client|scalaj-http|http%20client|"
        r"Python-urllib|HttpMonitor|TLSProber|WinHTTP|JNLP|okhttp|aihttp|reqwest|axios|"
        r"unirest-(?:java|python|ruby|nodejs|php|net))(?:[ /](\d+)(?:\.(\d+)|)(?:\.(\d+)|)|)"
    ),
    # named crawlers and bots (bingbot, Googlebot, SemrushBot, Slackbot, ...)
    (
        r"(CSimpleSpider|Cityreview Robot|CrawlDaddy|CrawlFire|Finderbots|Index crawler|"
        r"Job Roboter|KiwiStatus Spider|Lijit Crawler|QuerySeekerSpider|ScollSpider|"
        r"Trends Crawler|USyd-NLP-Spider|SiteCat Webbot|BotName\/\$BotVersion|123metaspider-Bot|"
        r"1470\.net crawler|50\.nu|8bo Crawler Bot|Aboundex|Accoona-[A-z]{1,30}-Agent|"
        r"AdsBot-Google(?:-[a-z]{1,30}|)|altavista|AppEngine-Google|archive.{0,30}\.org_bot|"
        r"archiver|Ask Jeeves|[Bb]ai[Dd]u[Ss]pider(?:-[A-Za-z]{1,30})(?:-[A-Za-z]{1,30}|)|bingbot|"
        r"BingPreview|blitzbot|BlogBridge|Bloglovin|BoardReader Blog Indexer|"
        r"BoardReader Favicon Fetcher|boitho.com-dc|BotSeer|BUbiNG|\b\w{0,30}favicon\w{0,30}\b|"
        r"\bYeti(?:-[a-z]{1,30}|)|Catchpoint(?: bot|)|[Cc]harlotte|Checklinks|clumboot|"
        r"Comodo HTTP\(S\) Crawler|Comodo-Webinspector-Crawler|ConveraCrawler|CRAWL-E|"
        r"CrawlConvera|Daumoa(?:-feedfetcher|)|Feed Seeker Bot|Feedbin|findlinks|"
        r"Flamingo_SearchEngine|FollowSite Bot|furlbot|Genieo|gigabot|GomezAgent|gonzo1|"
        r"(?:[a-zA-Z]{1,30}-|)Googlebot(?:-[a-zA-Z]{1,30}|)|Google SketchUp|grub-client|"
        r"gsa-crawler|heritrix|HiddenMarket|holmes|HooWWWer|htdig|ia_archiver|ICC-Crawler|"
        r"Icarus6j|ichiro(?:/mobile|)|IconSurf|IlTrovatore(?:-Setaccio|)|InfuzApp|"
        r"Innovazion Crawler|InternetArchive|IP2[a-z]{1,30}Bot|jbot\b|KaloogaBot|Kraken|Kurzor|"
        r"larbin|LEIA|LesnikBot|Linguee Bot|LinkAider|LinkedInBot|Lite Bot|Llaut|lycos|"
        r"Mail\.RU_Bot|masscan|masidani_bot|Mediapartners-Google|Microsoft .{0,30} Bot|mogimogi|"
        r"mozDex|MJ12bot|msnbot(?:-media {0,2}|)|msrbot|Mtps Feed Aggregation System|netresearch|"
        r"Netvibes|NewsGator[^/]{0,30}|^NING|Nutch[^/]{0,30}|Nymesis|ObjectsSearch|OgScrper|"
        r"Orbiter|OOZBOT|PagePeeker|PagesInventory|PaxleFramework|Peeplo Screenshot Bot|"
        r"PlantyNet_WebRobot|Pompos|Qwantify|Read%20Later|Reaper|RedCarpet|Retreiver|Riddler|"
        r"Rival IQ|scooter|Scrapy|Scrubby|searchsight|seekbot|semanticdiscovery|SemrushBot|Simpy|"
        r"SimplePie|SEOstats|SimpleRSS|SiteCon|Slackbot-LinkExpanding|Slack-ImgProxy|Slurp|snappy|"
        r"Speedy Spider|Squrl Java|Stringer|TheUsefulbot|ThumbShotsBot|Thumbshots\.ru|"
        r"Tiny Tiny RSS|Twitterbot|WhatsApp|URL2PNG|Vagabondo|VoilaBot|^vortex|Votay bot|^voyager|"
        r"WASALive.Bot|Web-sniffer|WebThumb|WeSEE:[A-z]{1,30}|WhatWeb|WIRE|WordPress|Wotbox|"
        r"www\.almaden\.ibm\.com|Xenu(?:.s|) Link Sleuth|Xerka [A-z]{1,30}Bot|yacy(?:bot|)|"
        r"YahooSeeker|Yahoo! Slurp|Yandex\w{1,30}|YodaoBot(?:-[A-z]{1,30}|)|YottaaMonitor|Yowedo|"
        r"^Zao|^Zao-Crawler|ZeBot_www\.ze\.bz|ZooShot|ZyBorg)(?:[ /]v?(\d+)(?:\.(\d+)(?:\.(\d+)|)|"
        r")|)"
    ),
    # generic 'name/1.0' archivers, indexers, scrapers, bots, spiders, crawlers
    (
        r"(?:\/[A-Za-z0-9\.]+|) {0,5}([A-Za-z0-9 \-_\!\[\]:]{0,50}(?:[Aa]rchiver|[Ii]ndexer|"
        r"[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50}))[/ ](\d+)(?:\.(\d+)(?:\.(\d+)|)|)"
    ),
    # generic 'name 1.0' archivers, indexers, scrapers, bots, spiders, crawlers
    (
        r"(?:\/[A-Za-z0-9\.]+|) {0,5}([A-Za-z0-9 \-_\!\[\]:]{0,50}(?:[Aa]rchiver|[Ii]ndexer|"
        r"[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50})) (\d+)(?:\.(\d+)(?:\.(\d+)|)|)"
    ),
    # names containing spider, scrape or crawl
    (
        r"((?:[A-z0-9]{1,50}|[A-z\-]{1,50} ?|)(?: the |)(?:[Ss][Pp][Ii][Dd][Ee][Rr]|[Ss]crape|"
        r"[Cc][Rr][Aa][Ww][Ll])[A-z0-9]{0,50})(?:(?:[ /]| v)(\d+)(?:\.(\d+)|)(?:\.(\d+)|)|)"
    ),
)

_VERSION_3 = r"(?:[ /]v?(\d+)(?:\.(\d+)(?:\.(\d+)|)|)|)"
_VERSION_DL = r"(?:[ /](\d+)(?:\.(\d+)|)(?:\.(\d+)|)|)"
_GENERAL = r"(?:[Aa]rchiver|[Ii]ndexer|[Ss]craper|[Bb]ot|[Ss]pider|[Cc]rawl[a-z]{0,50})"


def _without_suffix(rule: str, suffix: str) -> str:
    assert rule.endswith(suffix), rule
    return rule[: -len(suffix)]


SEARCH_FORMS: dict[int, str] = {
    9: _without_suffix(RULES[9], _VERSION_DL),  # optional version after the client's name
    10: _without_suffix(RULES[10], _VERSION_3),  # optional version after the bot's name
    11: _GENERAL + r"[/ ]\d",  # optional "/path  name" prefix; one digit of the version
    12: _GENERAL + r" \d",
    13: r"(?:[Ss][Pp][Ii][Dd][Ee][Rr]|[Ss]crape|[Cc][Rr][Aa][Ww][Ll])",  # affixes optional
}
for _index in (11, 12):
    assert _GENERAL in RULES[_index], RULES[_index]

SEARCHED: tuple[re.Pattern[str], ...] = tuple(
    re.compile(SEARCH_FORMS.get(i, rule), re.ASCII) for i, rule in enumerate(RULES)
)


def is_bot(user_agent: str) -> bool:
    """Whether any rule of Kong's list matches somewhere in ``user_agent``."""
    for rule in SEARCHED:
        if rule.search(user_agent) is not None:
            return True
    return False
