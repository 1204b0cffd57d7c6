# Web chat and `rasa shell`: real headless Chromium and a real terminal (tmux). Both also run in `make test`.
.PHONY: web-test screenshot

web-test: train
	$(PY) -m pytest -q tests/test_webchat_browser.py tests/test_shell.py

# Re-takes docs/img/webchat.png (phone size, a real conversation) from the browser test.
screenshot: train
	UPDATE_SCREENSHOT=1 $(PY) -m pytest -q tests/test_webchat_browser.py -k reload
