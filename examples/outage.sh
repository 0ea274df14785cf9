#!/usr/bin/env bash
# One outage, start to finish, with the real commands: a walk-through for the IT staff who run
# downtime. Read it from the top: each step says who does it, and why.
#
#   bash examples/outage.sh                                        # in a new temporary folder
#   DOWNTIME_HOME=/tmp/dt OUT=/tmp/dt-out bash examples/outage.sh  # in folders you name
#
# It needs `downtime` on PATH (`pip install downtime-*.whl` in a virtual environment, or `make
# demo` and then PATH="$PWD/.venv/bin:$PATH") and that environment's Python as python3 (or
# name it in PYTHON): the simulator plays the ward, and the standard library picks ids out of
# the JSON the commands print. Your own data folder is never touched unless you name it.
#
# The story: the record system of the example hospital goes down; ward MED42 works on the
# paper of the pack printed for it; the sheets come back and are scanned, checked, typed where
# handwriting must become data, put into the record (an outbox folder here), and accounted for.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/downtime-outage.XXXXXX")}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export DOWNTIME_HOME=${DOWNTIME_HOME:-$OUT/home}   # the data folder: ledger, keys, site.toml
export DOWNTIME_USER=${DOWNTIME_USER:-it-admin}      # who runs the commands, for the audit trail
PYTHON=${PYTHON:-python3}
command -v downtime >/dev/null || { echo "downtime is not on PATH (see the top of $0)" >&2; exit 1; }
"$PYTHON" -c 'import downtime.simulate' 2>/dev/null \
    || { echo "$PYTHON has no downtime: set PYTHON to the Python it is installed in" >&2; exit 1; }

step() { printf '\n=== %s\n' "$*"; }

# pick FIELD KEY=VALUE...: FIELD of the first object read from stdin whose KEYs (dotted for
# nested ones: patient.value) have those VALUEs. Reads JSON lines, or one document listing its
# objects under "items" (review list --json) or "pages" (a pack manifest).
pick() {
    "$PYTHON" -c '
import json, sys
field, *tests = sys.argv[1:]
text = sys.stdin.read()
try:
    document = json.loads(text)
    rows = document.get("items", document.get("pages", [document]))
except ValueError:
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
def get(row, key):
    for part in key.split("."):
        row = row.get(part) if isinstance(row, dict) else None
    return row
for row in rows:
    if all(str(get(row, k)) == v for k, v in (t.split("=", 1) for t in tests)):
        if get(row, field) is not None:
            print(get(row, field))
            sys.exit()
sys.exit(f"no {field} with {tests} in the JSON read")' "$@"
}

# ---------------------------------------------------------------------------------------------
step "1. The data folder (once per machine)"
# The ledger (SQLite here; PostgreSQL when several stations share one), the signing key, and
# site.toml: the site's name, the forms' language, its time zone (Europe/Stockholm unless set).
downtime init --site "Example Hospital" --lang en

step "2. The review station's users (once)"
# Clerks type what handwriting must become data; a confirmer (a nurse, a pharmacist) types
# every handwritten medication again, blind. Passwords come on stdin so that `ps` never shows
# them; typed by hand, `downtime users add anna --role clerk` asks for it twice.
printf '%s\n' 'anna-example-password' | downtime users add anna --role clerk --password-stdin
printf '%s\n' 'berit-example-password' | downtime users add berit --role confirmer --password-stdin

step "3. Every shift, before anything fails: print the ward's pack"
# From the census: here the example's (examples/census/); at a hospital a CSV export, a FHIR
# Bundle, or the record itself (--fhir-url). --all-wards -o DIR prints every ward. The PDF is
# the print: `lp -d med42 "$OUT/packs/MED42.pdf"`; deploy/ has a systemd timer for each shift.
# Beside it, MED42.manifest.json lists every page and field (a scan station imports it).
downtime pack --example --ward MED42 -o "$OUT/packs/MED42.pdf"
downtime packs list

step "4. The outage: the ward writes on its pack's sheets"
# When the record system went down and came back: the report covers the packs in use then.
downtime outage start
# Here the simulator plays the ward: it fills a few sheets of the pack just printed and scans
# them — some crooked, one upside down, a phone photo, a tampered copy, one with its codes torn
# off. What each sheet is: "$OUT/samples/README.md".
"$PYTHON" "$here/make_samples.py" "$OUT/packs/MED42.pdf" "$OUT/samples"
downtime outage end

step "5. Scan what came back"
# Any order, any orientation: PDF, TIFF, PNG, JPEG, phone photos. On a scan station the
# scanner's folder is watched instead (`downtime scan --watch /srv/scans/inbox`). --no-ocr
# leaves the sheet whose codes were torn off for a clerk (step 6); where Tesseract is installed
# the scan would read the serial printed on it by itself. The same file again adds nothing.
cd "$OUT"   # the scan results name the files as given: samples/…
downtime scan --no-ocr samples/scanner-batch.pdf samples/phone-photo.jpg
# 9 pages: 6 identified, 1 blank (the back of the first sheet), 2 set aside. With --json, one
# JSON line per page instead, for other tools.

step "6. Quarantine: the pages set aside, and why"
downtime quarantine list
# The copy whose page code was altered: its signature fails, so nothing on it is read and it is
# not filed. Ask the ward where it came from.
forged=$(downtime quarantine list --json | pick item_id reason=bad-signature)
downtime quarantine reject "$forged" --reason "altered copy: its page code's signature fails"
# Both codes torn off: a clerk types the serial printed on the sheet (this script finds it in
# the manifest: the medication orders of bed 4); the page is then read like any other.
torn=$(downtime quarantine list --json | pick item_id reason=no-page-code)
serial=$(pick form_serial form=medication-orders patient.value=197905219809 \
    <"$OUT/packs/MED42.manifest.json")
downtime quarantine assign "$torn" "$serial"

step "7. Into the record: a preview, then for real"
# Without a FHIR server (site.toml's [fhir] url, or --fhir-url) the transaction bundles go to
# an outbox folder. What needs a person first is held back, and listed for review.
downtime reconcile --dry-run
downtime reconcile --outbox "$OUT/outbox"

step "8. Review: what a person must settle"
# Usually at the review station (`downtime review`: a browser page per queue, the field's
# image beside the input). The same decisions from the command line are made by the person
# named in DOWNTIME_USER.
downtime review list
items=$(downtime review list --json)
# The order written by hand: typed by a clerk, then typed again, blind, by a confirmer.
order=$(pick item_id form=medication-orders item=new1 <<<"$items")
DOWNTIME_USER=anna downtime review decide "$order" transcribe \
    drug=Furosemid dose="40 mg" route=PO frequency=1x2 prescriber="Dr. Lind"
DOWNTIME_USER=berit downtime review decide "$order" transcribe --confirm \
    drug=Furosemid dose="40 mg" route=PO frequency=1x2 prescriber="Dr. Lind"
# Where the referral goes, as written on it.
referral=$(pick item_id form=referral item=referral.to <<<"$items")
DOWNTIME_USER=anna downtime review decide "$referral" transcribe to=Radiology
# The patient admitted on a reserve number, identified since (a test personnummer).
patient=$(pick item_id form=admission item=patient <<<"$items")
DOWNTIME_USER=anna downtime review decide "$patient" transcribe identifier=19500101-9818
downtime review list   # nothing is left

step "9. Into the record again: what the review settled"
# Safe to run as often as you like: nothing delivered is ever sent twice.
downtime reconcile --outbox "$OUT/outbox"

step "10. The report: what came back, and what did not"
# MISSING first, referrals and medication sheets at the top: every sheet of the outage's pack
# that has not come back. The ward looks for each one.
downtime report

step "11. After the search: void the sheets that will never come back"
# Here nobody wrote on the rest of the pack and the ward shredded it. Voiding says so (audited,
# with the reason); the sheets stop counting as missing. --even-current: it is still the
# ward's newest pack.
pack=$("$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["pack_id"])' \
    <"$OUT/packs/MED42.manifest.json")
downtime void --pack "$pack" --even-current --yes \
    --reason "outage over: the unused sheets were shredded on the ward"

step "12. The final report"
# It now ends "State: everything accounted for": 7 pages returned, 40 voided; nothing missing,
# pending, in conflict, set aside or failed. The files name patients: keep them private.
downtime report | tee report.txt
downtime report --format html -o report.html
downtime report --format json -o report.json

echo
echo "Data folder: $DOWNTIME_HOME"
echo "Pack, returned sheets, outbox and reports: $OUT"
