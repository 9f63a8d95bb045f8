"""The made-up values a history draws from: search terms, comments, DMs, devices, shops… and
the fixed Settings and Autofill bodies. Kept apart so the history and both writers share one copy."""

from __future__ import annotations

from typing import Any

_SEARCH_TERMS = (
    "bread recipe",
    "sourdough starter 🍞",
    "cat videos 🐱",
    "how to fold a fitted sheet",
    "easy pasta",
    "marathon training plan 🏃",
    "synthwave playlist",
    "houseplant care 🌱",
    "budget travel tips ✈️",
    "guitar chords beginner",
    "café latte art ☕",
    "dance tutorial",
)
_COMMENT_TEXTS = (
    "nice one",
    "this is so good 😂",
    "where is this? 😍",
    "trying this tomorrow",
    "🔥🔥🔥",
    "the ending 💀",
    "saved for later",
    "love the music 🎶",
    "same here",
    "crème brûlée next please",
)
_DM_TEXTS = (
    "see you at 7",
    "haha 😂",
    "did you see this?",
    "ok 👍",
    "on my way 🚲",
    "lol same",
    "happy birthday 🎉🎂",
    "thanks!",
    "what time tomorrow?",
    "good night 🌙",
)
# multi-line comments: continuation lines contain ": " but never start with a label word
_COMMENT_MULTILINE = (
    "so good\nsecond line: still the comment",
    "three tips 👇\n1. more salt\n2. less heat: trust me",
)
# multi-line DMs: continuation lines never start with a date, "[" or ">>>" and are never blank
_DM_MULTILINE = (
    "running late\nsee you at 5: ok?",
    "look at this 😂\nso true\nlol",
    "shopping list:\nflour, salt\nbutter: the good one",
)
_ADD_YOURS = ("Show your sourdough 🍞", "Your morning run", "Cat tax 🐱")
_ALT_TEXTS = ("A loaf of bread on a wooden table", "Runner on a bridge at sunrise")
_COLLECTIONS = ("Recipes", "Travel", "Workout 💪", "Funny")
_SHARE_METHODS = ("chat_head", "whatsapp", "repost", "copy", "more", "chat")
_DEVICES = (("Phone1,1", "OS 1.0"), ("Phone2,3", "OS 2.1"), ("Tablet1,2", "OS 2.0"))
_NETWORKS = ("Wi-Fi", "4G", "5G", "")
_CARRIERS = ("", "", "Example Mobile")
_OFF_SOURCES = ("example-shop", "example-news", "1234567890", "example-games")
_OFF_EVENTS = ("LaunchAPP", "ViewContent", "AddToCart", "Purchase")
_PRICES = ("0.99", "1.99", "4.99", "9.99", "19.99")
_SOUNDS = ("original sound - {u}", "Example Song - Example Artist", "Lo-fi Beat - Sample Band")
_TITLES = ("my first post ✨", "N/A", "", "weekend vibes 🌊", "recipe test #bread", "N/A")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SCREENS = ((1080, 2400), (1170, 2532), (1440, 3200), (828, 1792))
_ZERO_IDFA = "00000000-0000-0000-0000-000000000000"
_POST_HASHTAGS = ("bread", "sourdough", "running", "catsoftiktok", "weekendvibes", "latteart", "houseplants",
                  "guitar")
_AD_CATEGORIES = ("Food & Drink", "Travel", "Pets", "Sports & Outdoors", "Music", "Home & Garden",
                  "Beauty & Personal Care", "Games", "Tech & Electronics", "Books & Literature")
_LIVE_TITLES = ("baking bread live 🍞", "sunday long run Q&A 🏃", "cat cam 🐱")
_LIVE_COMMENTS = ("hello 👋", "greetings from the kitchen 🍞", "what song is this?", "🔥🔥", "so cozy")
_PLACES = ((52.37, 4.89, "NL"), (48.86, 2.35, "FR"), (51.51, -0.13, "GB"), (50.85, 4.35, "BE"))
_SHOP_ITEMS = (  # (shop, product, variations, unit price)
    ("Example Bakery Supplies", "Banneton proofing basket", ("Round 22 cm", "Oval 25 cm"), 14.99),
    ("Example Bakery Supplies", "Dough scraper set", ("Default",), 6.49),
    ("Example Running Store", "Running socks (3 pack)", ("Size M", "Size L"), 12.0),
    ("Example Pet Shop", "Cat scratching post", ("Grey", "Beige"), 24.5),
    ("Example Plant Corner", "Self-watering pot", ("Small", "Large"), 9.95),
)
_ORDER_STATUSES = ("Completed", "Delivered", "Shipped")
_VOUCHERS = (  # (name, text)
    ("€5 off", "€5 off orders over €25"),
    ("Free shipping", "Free shipping on your next order"),
    ("10% off", "10% off your first order in Example Bakery Supplies"),
)
_VOUCHER_STATUSES = ("Used", "Unused", "Expired")


# --------------------------------------------------------------------------------------------
# fixed sections (Autofill, Settings)
# --------------------------------------------------------------------------------------------


_AUTOFILL_VALUES = {"City": "Example City", "Email": "alex@example.com", "FirstName": "Alex", "LastName": "Example"}


def _autofill(*, real: bool) -> dict[str, str]:
    """The Autofill body (the map itself): all ``"N/A"``, or (C, D) a few made-up contact details."""
    return {k: _AUTOFILL_VALUES.get(k, "N/A") if real else "N/A"
            for k in ("Address", "City", "Country", "Email", "FirstName", "LastName", "PhoneNumber", "State", "Unit",
                      "ZipCode")}


def _setting_keys(label: str) -> list[str]:
    """The setting keys an export writes (``label``: a JSON family or ``TXT-<generation>``)."""
    if label.startswith("TXT-"):
        return [line.split(": ", 1)[0] for line in _SETTINGS_TXT.splitlines()]
    return list(_settings_map(label))


def _settings_map(family: str) -> dict[str, Any]:
    """SettingsMap; C and D also hold a key written with a stray double colon, as TikTok does."""
    out = _BASE_SETTINGS.copy()
    if family in ("C", "D"):
        out["Who can see your following list::"] = "Only me"
    return out


_BASE_SETTINGS: dict[str, Any] = {
    "Allow DownLoad": "On",
    "Allow Others to Find Me": "Off",
    "App Language": "en",
    "Content Preferences": {"Keyword filters for videos in Following Feed": [],
                            "Keyword filters for videos in For You Feed": ["spoilers"]},
    "Interests": "Food|Travel|Pets",
    "Personalized Ads": "On",
    "Private Account": "Off",
    "Push Notification": {"Likes": "On", "Comments": "On", "New followers": "Off"},
    "Web Language": "N/A",
    "Who Can Duet With Me": "Everyone",
    "Who Can Post Comments": "Friends",
    "Who Can Send Me Message": "Friends",
    "Who Can View Videos I Liked": "Only me",
}


_SETTINGS_TXT = (
    "Allow DownLoad: On\nApp Language: en\nInterests: Food|Travel|Pets\nPersonalized Ads: On\n"
    "Private Account: Off\nWeb Language: N/A\nWho Can Send Me Message: Friends\n"
)
