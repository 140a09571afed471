"""End to end in a real browser: the page served on 127.0.0.1, driven by Selenium with Debian's
chromium + chromium-driver (no browser download). A text query and an upload, results checked
against the JSON API. Skips with a reason when the browser is missing, except under CI=true."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from polysense.search import Index
from polysense.search.server import BackgroundServer, create_app

CHROMEDRIVER = os.environ.get("POLYSENSE_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM = os.environ.get("POLYSENSE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = os.environ.get("POLYSENSE_SEARCH_SCREENSHOT")  # e.g. /tmp/search-page.png


def _browser_or_skip():
    missing = [p for p in (CHROMEDRIVER, CHROMIUM) if not (Path(p).is_file() or shutil.which(p))]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        reason = f"browser test needs {', '.join(missing)} (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI=true requires it")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1100,900"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def test_text_query_and_upload_in_chromium(indexed):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _browser_or_skip()
    idx, root, bundle = indexed
    try:
        with Index.open(idx, embedder=bundle) as index, BackgroundServer(create_app(index)) as server:
            wait = WebDriverWait(driver, 30)
            driver.get(server.url + "/")
            assert driver.title == "polysense search"
            wait.until(lambda d: "items" in d.find_element(By.ID, "info").text)

            box = driver.find_element(By.ID, "q")
            box.send_keys("a dog barking")
            driver.find_element(By.ID, "k").clear()
            driver.find_element(By.ID, "k").send_keys("4")
            driver.find_element(By.ID, "search-button").click()
            wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "result(s) for “a dog barking”"))
            shown = [li.get_attribute("data-item") for li in driver.find_elements(By.CSS_SELECTOR, "li.result")]
            assert shown == [h.item_id for h in index.search(text="a dog barking", k=4)]
            first_audio = next(li for li in driver.find_elements(By.CSS_SELECTOR, "li.result")
                               if li.find_elements(By.CSS_SELECTOR, "audio"))
            assert "/api/files/" in first_audio.find_element(By.CSS_SELECTOR, "audio").get_attribute("src")
            # every spectrogram thumbnail loads (240 px wide PNGs from the API)
            wait.until(lambda d: d.execute_script(
                "const imgs = Array.from(document.querySelectorAll('img.spectrogram'));"
                "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth === 240)"))
            if SCREENSHOT:
                driver.save_screenshot(SCREENSHOT)

            driver.find_element(By.ID, "file").send_keys(str(root / "sub" / "clip3.wav"))
            driver.find_element(By.ID, "upload-button").click()
            wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "for the file clip3.wav"))
            results = driver.find_elements(By.CSS_SELECTOR, "li.result")
            assert results[0].get_attribute("data-item") == "sub/clip3.wav"
            assert "a rain on a roof" not in results[0].text and "rain on a roof" in results[0].text

            results[0].find_element(By.CSS_SELECTOR, "a.like").click()  # search by a result
            wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "items like"))
            liked = [li.get_attribute("data-item") for li in driver.find_elements(By.CSS_SELECTOR, "li.result")]
            assert liked == [h.item_id for h in index.search(like="sub/clip3.wav", k=4)]
    finally:
        driver.quit()


def test_the_query_lives_in_the_address_and_back_returns_to_it(indexed):
    from urllib.parse import parse_qs, urlparse

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _browser_or_skip()
    idx, _, bundle = indexed
    try:
        with Index.open(idx, embedder=bundle) as index, BackgroundServer(create_app(index)) as server:
            wait = WebDriverWait(driver, 30)
            shown = lambda: [li.get_attribute("data-item") for li in driver.find_elements(By.CSS_SELECTOR, "li.result")]  # noqa: E731
            driver.get(server.url + "/?q=a%20dog%20barking&k=3")  # a bookmarked search runs on opening
            wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "result(s) for “a dog barking”"))
            expected = [h.item_id for h in index.search(text="a dog barking", k=3)]
            assert shown() == expected and driver.find_element(By.ID, "q").get_attribute("value") == "a dog barking"

            driver.find_elements(By.CSS_SELECTOR, "a.like")[1].click()
            wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "items like"))
            query = parse_qs(urlparse(driver.current_url).query)
            assert query == {"like": [expected[1]], "k": ["3"]}
            assert shown() == [h.item_id for h in index.search(like=expected[1], k=3)]

            driver.back()  # the previous results, from the address
            wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "result(s) for “a dog barking”"))
            assert shown() == expected and parse_qs(urlparse(driver.current_url).query)["q"] == ["a dog barking"]
    finally:
        driver.quit()
