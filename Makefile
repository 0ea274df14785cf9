# Two commands on a fresh machine:
#   make demo   install, then print the bundled example ward's downtime pack
#   make test   install, then run the whole test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out
# The FHIR test server's Node packages (tests/fhir_server/README.md); npm ci writes
# node_modules/.package-lock.json, which serves as the stamp.
FHIR_SERVER := tests/fhir_server
FHIR_STAMP  := $(FHIR_SERVER)/node_modules/.package-lock.json

.PHONY: demo test lint screens dist system-deps clean

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages: libzbar0 is the native half of pyzbar (the second QR reader);
# tesseract-ocr reads a page's printed serial when both its codes are destroyed; chromium is
# the browser the review station's tests drive (with Playwright); cups (its scheduler, lp and
# lpadmin, and cups-filters' generic PDF printer) is what `downtime print` prints through, and
# the printing tests run a CUPS of their own.
DEBIAN_PACKAGES := libzbar0 tesseract-ocr chromium cups
PDF_PRINTER_PPD := /usr/share/ppd/cupsfilters/Generic-PDF_Printer-PDF.ppd
system-deps:
	@if ! ldconfig -p 2>/dev/null | grep -q 'libzbar\.so\.0' || ! command -v tesseract >/dev/null \
		|| ! [ -x /usr/bin/chromium ] || ! command -v lp >/dev/null || ! [ -x /usr/sbin/cupsd ] \
		|| ! [ -f $(PDF_PRINTER_PPD) ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null; \
		else \
			echo "missing Debian packages: run 'sudo apt-get install $(DEBIAN_PACKAGES)' and try again" >&2; exit 1; \
		fi; \
	fi

# Reinstalled when node_modules is missing or older than the lock file.
$(FHIR_STAMP): $(FHIR_SERVER)/package.json $(FHIR_SERVER)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: the FHIR test server needs Node.js 20.19+ and npm" >&2; exit 1; }
	@npm ci --prefix $(FHIR_SERVER) --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

demo: $(STAMP)
	$(BIN)/downtime pack --example --all-wards -o $(OUT)

test: system-deps $(STAMP) $(FHIR_STAMP)
	$(BIN)/ruff check downtime tests bench docs
	$(BIN)/mypy
	$(BIN)/pytest -n 2

# The review station's screenshots in the README (docs/screens), made anew by its test.
screens: system-deps $(STAMP)
	DOWNTIME_SCREENS=1 $(BIN)/pytest tests/test_station.py tests/test_station_queues.py tests/test_station_conflicts.py -k screenshots

# The wheel and sdist a site installs (README, *Installing it on a PC*), built afresh.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

lint: $(STAMP)
	$(BIN)/ruff check downtime tests bench docs
	$(BIN)/ruff format --check downtime tests bench docs
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(OUT) dist
