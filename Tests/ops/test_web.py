"""The web page at / in a real browser (Debian's chromium + chromium-driver, headless, through Selenium):
choose an image, set a size, run `scale` and `seam` end to end over 127.0.0.1, see the progress, the result
next to the input and the download link; a refused request shows the problem's detail in words. Leaves a
screenshot of the finished page at .cache/ops/screenshot-web.png."""
import base64
import shutil
import struct
from pathlib import Path

import pytest

from conftest import ROOT, png

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("web") / "scene.png"
    path.write_bytes(png(480, 300))
    return path


def wait_for(driver, condition, timeout=60):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def natural_size(driver, element_id):
    return tuple(driver.execute_script(
        f"const i = document.getElementById('{element_id}'); return [i.naturalWidth, i.naturalHeight];"))


def result_bytes(driver):
    """The bytes behind the download link (a blob: URL), fetched inside the page."""
    encoded = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(document.getElementById('download').href).then(r => r.arrayBuffer()).then(buffer => {
          let s = ''; new Uint8Array(buffer).forEach(b => s += String.fromCharCode(b)); done(btoa(s));
        }).catch(error => done('error: ' + error));""")
    assert not encoded.startswith("error:"), encoded
    return base64.b64decode(encoded)


def choose(driver, server, photo):
    from selenium.webdriver.common.by import By
    driver.get(server.url + "/")
    assert driver.title == "deepresize"
    driver.find_element(By.ID, "file").send_keys(str(photo))
    wait_for(driver, lambda d: d.find_element(By.ID, "submit").is_enabled())
    assert natural_size(driver, "before") == (480, 300)
    ratio = driver.find_element(By.ID, "ratio").text
    assert "480×300 (8:5)" in ratio, ratio


def set_size(driver, width, height=None):
    from selenium.webdriver.common.by import By
    w = driver.find_element(By.ID, "w")
    w.clear()
    w.send_keys(str(width))
    if height is not None:
        keep = driver.find_element(By.ID, "keep")
        if keep.is_selected():
            keep.click()
        h = driver.find_element(By.ID, "h")
        h.clear()
        h.send_keys(str(height))


def select(driver, element_id, value):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    Select(driver.find_element(By.ID, element_id)).select_by_value(value)


def run(driver):
    from selenium.webdriver.common.by import By
    driver.find_element(By.ID, "submit").click()
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in ("done", "failed"))
    error = driver.find_element(By.ID, "error")
    assert not error.is_displayed(), error.text
    assert driver.find_element(By.ID, "download").is_displayed()


def no_console_errors(driver):
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors


def test_scale_end_to_end(browser, server, photo):
    from selenium.webdriver.common.by import By
    choose(browser, server, photo)
    set_size(browser, 240)  # the aspect ratio is kept: 240 × 150
    assert browser.find_element(By.ID, "h").get_attribute("value") == "150"
    select(browser, "method", "scale")
    select(browser, "format", "jpeg")
    run(browser)
    assert natural_size(browser, "after") == (240, 150)
    data = result_bytes(browser)
    assert data[:2] == b"\xff\xd8", "the download is not a JPEG"
    assert browser.find_element(By.ID, "download").get_attribute("download").endswith(".jpg")
    no_console_errors(browser)


def test_seam_end_to_end_with_progress(browser, server, photo):
    from selenium.webdriver.common.by import By
    choose(browser, server, photo)
    set_size(browser, 330, 300)  # seams take out 150 columns; the height stays
    assert "→ 330×300 (11:10)" in browser.find_element(By.ID, "ratio").text
    select(browser, "method", "seam")
    # Record every status line the page shows while the job runs.
    browser.execute_script("""
        window.seen = [];
        new MutationObserver(() => window.seen.push(document.getElementById('status').textContent))
          .observe(document.getElementById('status'), {childList: true, characterData: true, subtree: true});""")
    run(browser)
    assert natural_size(browser, "after") == (330, 300)
    data = result_bytes(browser)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (330, 300)
    seen = browser.execute_script("return window.seen;")
    assert any("%" in line or "queued" in line for line in seen), seen  # it followed GET /jobs/{id}
    assert browser.find_element(By.ID, "progress").get_attribute("value") == "1"
    assert "After (seam): 330×300" in browser.find_element(By.ID, "after-caption").text
    no_console_errors(browser)
    # Same scale: the 330 px result is drawn at 330/480 of the input's width; unticked, both fill their frames.
    widths = "return ['before', 'after'].map(id => document.getElementById(id).getBoundingClientRect().width);"
    before, after = browser.execute_script(widths)
    assert abs(after / before - 330 / 480) < 0.02, (before, after)
    browser.find_element(By.ID, "same-scale").click()
    before, after = browser.execute_script(widths)
    assert abs(after - before) < 2, (before, after)
    browser.find_element(By.ID, "same-scale").click()
    # For looking at (docs/screenshot-web.png is one of these, with a real photo): not in the tree.
    shots = ROOT / ".cache/ops"
    shots.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shots / "screenshot-web.png"))


def test_deep_shows_its_mask(browser, server, photo):
    from selenium.webdriver.common.by import By
    choose(browser, server, photo)
    set_size(browser, 330, 300)
    select(browser, "method", "deep")
    iterations = browser.find_element(By.ID, "iterations")
    iterations.clear()
    iterations.send_keys("3")  # a short optimisation: this checks the page, not the method
    browser.execute_script("""
        window.seen = [];
        new MutationObserver(() => window.seen.push(document.getElementById('status').textContent))
          .observe(document.getElementById('status'), {childList: true, characterData: true, subtree: true});""")
    run(browser)
    seen = browser.execute_script("return window.seen;")
    assert any(" elapsed" in line for line in seen), seen  # the time so far, while queued or running
    assert natural_size(browser, "after") == (330, 300)
    wait_for(browser, lambda d: d.find_element(By.ID, "mask-figure").is_displayed())
    wait_for(browser, lambda d: natural_size(d, "mask") == (480, 300))
    no_console_errors(browser)


def test_a_webp_result_downloads_as_webp(browser, server, photo):
    """The download's name follows the result's type: a WebP was offered as .png."""
    from selenium.webdriver.common.by import By
    choose(browser, server, photo)
    set_size(browser, 240)
    select(browser, "method", "scale")
    select(browser, "format", "webp")
    run(browser)
    assert result_bytes(browser)[8:12] == b"WEBP"
    assert browser.find_element(By.ID, "download").get_attribute("download").endswith(".webp")


def test_a_refused_request_shows_the_problem_detail(browser, server, photo):
    from selenium.webdriver.common.by import By
    choose(browser, server, photo)
    # A result first: a refusal after it must not leave its caption.
    set_size(browser, 240)
    select(browser, "method", "scale")
    run(browser)
    assert browser.find_element(By.ID, "after-caption").text.startswith("After (scale): 240×")
    set_size(browser, 9000, 9000)  # over max_output_dimension (8192)
    select(browser, "method", "scale")
    browser.find_element(By.ID, "submit").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "error").is_displayed())
    text = browser.find_element(By.ID, "error").text
    assert text.startswith("Unprocessable Content (422):"), text
    assert "8192" in text, text
    # The page does not stay "working…".
    wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "failed")
    assert "working" not in browser.find_element(By.ID, "after-frame").text
    assert browser.find_element(By.ID, "status").text == "not resized"
    assert browser.find_element(By.ID, "after-caption").text == "After"


@pytest.fixture(scope="module")
def camera_photo(tmp_path_factory):
    """A 12 MP camera-size JPEG (4224×3168), made with Pillow: a gradient with a disc."""
    from PIL import Image, ImageDraw
    image = Image.linear_gradient("L").resize((4224, 3168)).convert("RGB")
    ImageDraw.Draw(image).ellipse((2200, 900, 3400, 2100), fill=(200, 60, 30))
    path = tmp_path_factory.mktemp("camera") / "camera.jpg"
    image.save(path, quality=90)
    return path


def test_a_camera_photo_on_the_page_defaults_gets_an_image(browser, server, camera_photo):
    """Issue 16, item 8: the page reads GET /limits, defaults to the API's default method and pre-fills a
    size the limits allow, so a dropped 12 MP photo gets an image without touching anything."""
    import json
    import urllib.request
    from selenium.webdriver.common.by import By
    with urllib.request.urlopen(server.url + "/limits", timeout=30) as response:
        limits = json.load(response)
    browser.get(server.url + "/")
    browser.get_log("browser")  # what earlier tests left
    wait_for(browser, lambda d: d.find_element(By.ID, "method").get_attribute("value") == limits["default_method"])
    assert limits["default_method"] == "deep"
    browser.find_element(By.ID, "file").send_keys(str(camera_photo))
    wait_for(browser, lambda d: d.find_element(By.ID, "submit").is_enabled(), timeout=60)
    assert natural_size(browser, "before") == (4224, 3168)
    width = int(browser.find_element(By.ID, "w").get_attribute("value"))
    height = int(browser.find_element(By.ID, "h").get_attribute("value"))
    assert 0 < width * height <= limits["max_output_pixels"]["deep"], (width, height)
    assert abs(width / height - 4224 / 3168) < 0.01, (width, height)
    browser.execute_script("""
        window.seen = [];
        new MutationObserver(() => window.seen.push(document.getElementById('status').textContent))
          .observe(document.getElementById('status'), {childList: true, characterData: true, subtree: true});""")
    browser.find_element(By.ID, "submit").click()
    wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in ("done", "failed"), timeout=300)
    error = browser.find_element(By.ID, "error")
    assert not error.is_displayed(), error.text
    assert natural_size(browser, "after") == (width, height)
    status = browser.find_element(By.ID, "status").text
    assert status.startswith(f"done: {width}×{height} in "), status
    no_console_errors(browser)
