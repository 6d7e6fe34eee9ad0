"""The web page in headless Chromium (Debian's, driven by Playwright) against a real server.

A shopper signs up, sees an answer stream in and the balance drop by 100, orders through chat
and confirms from the order panel, logs out and back in and finds the conversation; the chat
works keyboard-only on a phone; 402, 429 and provider failures are explained. Skipped when
Chromium or Playwright is missing, unless TALLY_REQUIRE_BROWSER=1 (CI) makes that a failure.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from accounts.models import User
from billing.services import charge
from chat.models import Conversation
from orders.models import Order
from tests.live_server import ROOT, LiveServer, live_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, Route

pytestmark = pytest.mark.django_db(transaction=True)  # the server reads what the test commits

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "correct-horse-42"
PHONE = {"width": 375, "height": 667}
DESKTOP = {"width": 1280, "height": 800}

# Records what an answer's text was each time the page changed it, to tell a streamed answer
# (growing word by word) from one that appears all at once.
RECORD_ANSWER_TEXT = """
window.__answerTexts = [];
new MutationObserver((records) => {
  for (const record of records) {
    const text = record.target.closest && record.target.closest(".message.assistant .text");
    if (text) window.__answerTexts.push(text.textContent);
  }
}).observe(document, { childList: true, subtree: true, characterData: true });
"""


def browser_unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install chromium (scripts/browser-deps.sh, as root)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing: it comes from requirements/dev.txt (make test)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = browser_unavailable()
    if reason is not None:
        if os.environ.get("TALLY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"TALLY_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(f"browser tests skipped: {reason}")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=10_000)
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        # Playwright's sync API keeps its event loop marked as running in this thread, which
        # makes Django refuse every query (teardown's flush included) as "async unsafe". The
        # queries are plain synchronous ones in this thread, so the check is switched off.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("web-data")
    # As `make run` does: collect the static files that WhiteNoise serves with DEBUG off.
    with override_settings(STATIC_ROOT=data_dir / "static"):
        call_command("collectstatic", interactive=False, verbosity=0)
    env = {
        "DEBUG": "false",
        "DATA_DIR": str(data_dir),
        "LLM_PROVIDER": "local",
        "LLM_FALLBACKS": "",
        "SIGNUP_TOKENS": "4000",
        "CHAT_COST": "100",
        "CHAT_CACHE_TTL": "0",
        "THROTTLE_CHAT": "1000/min",
        "THROTTLE_AUTH": "1000/min",
        "THROTTLE_SIGNUP": "1000/hour",
        "THROTTLE_LOGIN_ACCOUNT": "1000/hour",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    with live_server(env, log=data_dir / "server.log") as running:
        yield running


@pytest.fixture(autouse=True)
def demo_catalog(transactional_db: None) -> None:
    call_command("load_demo", stdout=io.StringIO())


@dataclass
class Tab:
    page: Page
    errors: list[str] = field(default_factory=list)

    def assert_no_console_errors(self, *, expected: str | None = None) -> None:
        unexpected = [e for e in self.errors if expected is None or not re.search(expected, e)]
        assert unexpected == [], f"console errors: {unexpected}"


@pytest.fixture
def open_page(browser: Browser, server: LiveServer) -> Iterator[Callable[..., Tab]]:
    contexts = []

    def open_(
        viewport: dict[str, int],
        *,
        websocket: bool = True,
        beside: Tab | None = None,
        **options: Any,
    ) -> Tab:
        """A page of the app; ``beside`` another tab opens it in the same browser (the same
        signed-in user); without ``websocket`` the page has none and chats over HTTP."""
        if beside is None:
            context = browser.new_context(viewport=viewport, **options)  # type: ignore[arg-type]
            contexts.append(context)
        else:
            context = beside.page.context
        page = context.new_page()
        tab = Tab(page)
        page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: tab.errors.append(f"uncaught: {exc}"))
        page.add_init_script(RECORD_ANSWER_TEXT)
        if not websocket:
            page.add_init_script("delete window.WebSocket;")
        page.goto(server.url + "/")
        return tab

    yield open_
    for context in contexts:
        context.close()


def expect(locator: Locator) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def assert_accessible(page: Page, view: str) -> None:
    """axe-core (4.x, bundled by axe-playwright-python) finds nothing serious or critical."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    grave = [v for v in violations if v["impact"] in ("serious", "critical")]
    described = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(" ".join(node["target"]) for node in v["nodes"][:3])
        for v in grave
    ]
    assert described == [], f"{view}: {described}"


def register(page: Page, username: str) -> None:
    form = page.locator("#register-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    expect(page.get_by_label("Message", exact=True)).to_be_focused()


def say(page: Page, text: str) -> Locator:
    """Send a message with Enter; the assistant's answer once it is complete."""
    answers = page.locator(".message.assistant")
    before = answers.count()
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")
    expect(answers).to_have_count(before + 1)
    answer = answers.last
    expect(answer).not_to_have_class(re.compile(r"\bpending\b"))
    return answer


def balance(page: Page) -> Locator:
    return page.locator("#balance-value")


def test_a_shopper_signs_up_chats_orders_and_finds_the_conversation_again(
    open_page: Callable[..., Tab],
) -> None:
    tab = open_page(DESKTOP)
    page = tab.page
    assert_accessible(page, "sign-in")
    register(page, "maria")
    expect(balance(page)).to_have_text("4000")
    assert_accessible(page, "empty chat")

    answer = say(page, "do you have something spicy?")

    final = answer.locator(".text").inner_text()
    assert "Pepperoni" in final
    texts = [t for t in page.evaluate("window.__answerTexts") if t and t != final]
    assert len(texts) >= 2 and all(final.startswith(t) for t in texts), texts  # it grew
    expect(balance(page)).to_have_text("3900")
    expect(answer.locator(".sources li")).to_contain_text(["Menu: Pepperoni"])
    expect(page.locator("#conversation-list button")).to_have_count(1)

    answer = say(page, "two margheritas and a coke")

    expect(answer).to_contain_text("Margherita")
    expect(balance(page)).to_have_text("3800")
    panel = page.get_by_role("complementary", name=re.compile("Your order"))
    expect(panel).to_be_visible()
    expect(panel.locator("#order-status")).to_have_text("draft")
    expect(panel.locator("#order-items li")).to_have_text(
        [re.compile(r"2 × Margherita\s*EUR 17\.00"), re.compile(r"1 × Coca-Cola\s*EUR 2\.50")]
    )
    expect(panel.locator("#order-total")).to_have_text("EUR 19.50")
    assert_accessible(page, "chat with sources and a draft order")
    screenshot(page, "desktop-order-draft")

    panel.get_by_role("button", name="Confirm order").click()

    expect(panel.locator("#order-status")).to_have_text("confirmed")
    expect(panel.get_by_role("button", name="Confirm order")).to_be_hidden()
    order = Order.objects.get(user__username="maria")
    assert order.status == Order.Status.CONFIRMED
    assert sorted((i.product.sku, i.quantity) for i in order.items.all()) == [
        ("DR-COKE", 1),
        ("PZ-MARG", 2),
    ]

    page.get_by_role("button", name="Log out").click()

    expect(page.locator("#login-form")).to_be_visible()
    expect(page.locator("#balance")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('tally.token')") is None

    login = page.locator("#login-form")
    login.get_by_label("Username").fill("maria")
    login.get_by_label("Password").fill(PASSWORD)
    login.get_by_label("Password").press("Enter")

    expect(balance(page)).to_have_text("3800")
    expect(panel).to_be_hidden()  # no draft left
    conversations = page.get_by_role("navigation", name="Conversations").get_by_role("button")
    expect(conversations).to_have_text(["New chat", re.compile("spicy")])
    conversations.nth(1).click()
    expect(page.locator(".message.user .text")).to_have_text(
        ["do you have something spicy?", "two margheritas and a coke"]
    )
    expect(page.locator(".message.assistant").first).to_contain_text("Pepperoni")
    expect(page.locator(".message.assistant .sources").first).to_contain_text("Menu: Pepperoni")
    screenshot(page, "desktop-conversation-reopened")
    tab.assert_no_console_errors()


def test_on_a_phone_the_chat_works_with_the_keyboard_alone(
    open_page: Callable[..., Tab],
) -> None:
    tab = open_page(PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page, keyboard = tab.page, tab.page.keyboard
    expect(page.locator("#login-username")).to_be_focused()
    for _ in range(3):  # password, "Log in", then the sign-up form's username
        keyboard.press("Tab")
    expect(page.locator("#register-username")).to_be_focused()
    keyboard.type("ana")
    keyboard.press("Tab")
    keyboard.press("Tab")  # email is optional
    keyboard.type(PASSWORD)
    keyboard.press("Enter")

    expect(page.get_by_label("Message", exact=True)).to_be_focused()
    expect(balance(page)).to_have_text("4000")
    keyboard.type("<b>Hi</b> I'm Ana & I like <img src=x onerror=alert(1)>")
    keyboard.press("Enter")

    answer = page.locator(".message.assistant").last
    expect(answer).to_be_visible()
    expect(answer).not_to_have_class(re.compile(r"\bpending\b"))
    expect(answer.locator(".text")).not_to_be_empty()
    expect(balance(page)).to_have_text("3900")
    mine = page.locator(".message.user .text")
    expect(mine).to_have_text("<b>Hi</b> I'm Ana & I like <img src=x onerror=alert(1)>")
    assert mine.locator("b, img").count() == 0, "user text must never become HTML"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    sidebar = page.get_by_role("navigation", name="Conversations")
    expect(sidebar).to_be_hidden()
    toggle = page.get_by_role("button", name="Chats")
    toggle.focus()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "keyboard focus must be visible"
    keyboard.press("Enter")
    expect(sidebar).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(sidebar.locator(".conversation-list button")).to_have_count(1)
    assert_accessible(page, "phone, conversations open")
    screenshot(page, "phone-conversations-open")
    keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(toggle).to_be_focused()
    screenshot(page, "phone-chat")
    tab.assert_no_console_errors()


@pytest.mark.parametrize("websocket", [True, False], ids=["websocket", "http"])
def test_out_of_tokens_is_explained_over_either_transport(
    open_page: Callable[..., Tab], websocket: bool
) -> None:
    tab = open_page(DESKTOP, websocket=websocket)
    page = tab.page
    register(page, f"ivan-{websocket}")
    charge(user=User.objects.get(username=f"ivan-{websocket}"), amount=3950)
    notice = page.locator("#notice")

    say(page, "hello")

    expect(notice).to_contain_text("costs 100 and your balance is 50")
    expect(balance(page)).to_have_text("50")
    expect(page.locator(".message.assistant").last).to_have_class(re.compile("failed"))
    tab.assert_no_console_errors(expected=r"status of 402")


def test_slow_down_and_provider_failures_over_http_are_explained(
    open_page: Callable[..., Tab],
) -> None:
    tab = open_page(DESKTOP, websocket=False)
    page = tab.page
    register(page, "olga")
    charge(user=User.objects.get(username="olga"), amount=3950)
    notice = page.locator("#notice")
    expect(notice).to_have_attribute("role", "alert")

    say(page, "hello")  # the server's own 402

    expect(notice).to_contain_text("out of tokens")
    expect(notice).to_contain_text("costs 100 and your balance is 50")
    expect(balance(page)).to_have_text("50")
    expect(page.locator(".message.assistant").last).to_have_class(re.compile("failed"))

    def answer_with(status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        def fulfil(route: Route) -> None:
            route.fulfill(status=status, json=body, headers=headers)

        page.unroute("**/api/chat/")
        page.route("**/api/chat/", fulfil)

    answer_with(429, {"detail": "Slow down.", "code": "throttled"}, {"Retry-After": "17"})
    say(page, "hello again")
    expect(notice).to_contain_text("Slow down")
    expect(notice).to_contain_text("Try again in 17 seconds")

    answer_with(504, {"detail": "The model timed out.", "code": "provider_timeout"}, {})
    say(page, "and again")
    expect(notice).to_contain_text("took too long")
    expect(notice).to_contain_text("refunded")

    stream = "event: delta\ndata: {}\n\nevent: error\ndata: {}\n\n".format(
        json.dumps({"text": "Half an "}),
        json.dumps(
            {
                "detail": "The provider failed.",
                "code": "provider_unavailable",
                "tokens_remaining": 50,
            }
        ),
    )
    page.unroute("**/api/chat/")
    page.route(
        "**/api/chat/",
        lambda route: route.fulfill(status=200, body=stream, content_type="text/event-stream"),
    )
    say(page, "one more time")
    expect(notice).to_contain_text("The provider failed.")
    expect(notice).to_contain_text("refunded")
    interrupted = page.locator(".message.assistant").last
    expect(interrupted).to_have_class(re.compile("failed"))
    expect(interrupted).to_contain_text("Half an")
    expect(interrupted).to_contain_text("The answer was interrupted.")
    expect(balance(page)).to_have_text("50")
    assert_accessible(page, "errors explained")
    screenshot(page, "desktop-errors")
    tab.assert_no_console_errors(expected=r"status of (402|429|504)")


def test_two_pages_of_one_shopper_both_show_the_answer_as_it_streams(
    open_page: Callable[..., Tab],
) -> None:
    first = open_page(DESKTOP)
    register(first.page, "lena")
    say(first.page, "Hello! My name is Lena.")
    second = open_page(DESKTOP, beside=first)
    conversation = Conversation.objects.get(user__username="lena")
    conversations = second.page.get_by_role("navigation", name="Conversations")
    conversations.get_by_role("button", name=re.compile("Hello! My name is Lena")).click()
    expect(second.page.locator("#chat")).to_have_attribute("data-live", str(conversation.pk))
    expect(first.page.locator("#chat")).to_have_attribute("data-live", str(conversation.pk))

    answer = say(first.page, "What did I just say?")

    final = answer.locator(".text").inner_text()
    assert "Hello! My name is Lena." in final
    theirs = second.page.locator(".message.assistant").last
    expect(theirs).not_to_have_class(re.compile(r"\bpending\b"))
    expect(theirs.locator(".text")).to_have_text(final)
    expect(second.page.locator(".message.user .text").last).to_have_text("What did I just say?")
    seen = [t for t in second.page.evaluate("window.__answerTexts") if t and t != final]
    assert len(seen) >= 2 and all(final.startswith(t) for t in seen), seen  # it grew there too
    expect(balance(second.page)).to_have_text("3800")
    screenshot(second.page, "desktop-second-page-live")
    first.assert_no_console_errors()
    second.assert_no_console_errors()


def test_usage_shows_where_the_tokens_went_and_staff_top_up_from_it(
    open_page: Callable[..., Tab],
) -> None:
    shopper = open_page(DESKTOP)
    page = shopper.page
    register(page, "uma")
    say(page, "hello")
    say(page, "do you have something spicy?")

    page.get_by_role("button", name="Usage").click()

    expect(page.get_by_role("heading", name="Your usage, last 30 days")).to_be_focused()
    expect(page.locator("#usage-summary")).to_have_text("2 chats, 200 tokens spent.")
    bars = page.locator("#usage-chart rect")
    expect(bars).to_have_count(30)
    assert bars.last.get_attribute("data-tokens") == "200"  # today, the last day
    assert float(bars.last.get_attribute("height") or 0) > 0
    assert float(bars.first.get_attribute("height") or 0) == 0
    expect(page.locator("#usage-days tbody tr")).to_have_count(1)
    expect(page.locator("#usage-days tbody td").last).to_have_text("200")
    expect(page.locator("#usage-ledger li").first).to_contain_text("Chat (local/tally-local-1)")
    expect(page.locator("#staff-tools")).to_be_hidden()
    assert_accessible(page, "usage")
    screenshot(page, "desktop-usage")

    staff = open_page(DESKTOP)
    boss = staff.page
    register(boss, "boss")
    User.objects.filter(username="boss").update(is_staff=True, is_superuser=True)
    boss.reload()  # signed in again from the kept token, now as staff
    boss.get_by_role("button", name="Usage").click()
    tools = boss.locator("#staff-tools")
    expect(tools).to_be_visible()
    expect(boss.locator("#usage-users tbody tr")).to_have_text([re.compile(r"uma\s*2\s*0\s*200")])
    form = boss.locator("#top-up-form")
    form.get_by_label("Username").fill("uma")
    form.get_by_label("Tokens").fill("500")
    form.get_by_role("button", name="Top up").click()

    expect(form.locator(".form-done")).to_have_text("Topped up uma by 500: 4300 tokens now.")
    assert_accessible(boss, "staff usage and top-up")
    screenshot(boss, "desktop-staff-usage")
    page.get_by_role("button", name="Back to chat").click()
    page.get_by_role("button", name="Usage").click()
    expect(page.locator("#usage-ledger li").first).to_contain_text("Top-up")
    shopper.assert_no_console_errors()
    staff.assert_no_console_errors()
