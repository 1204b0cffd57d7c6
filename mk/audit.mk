# Dependency audit (docs/security.md, "Dependency audit"): pip-audit from a throwaway virtualenv against
# requirements/lock.txt. It needs PyPI's per-release JSON (or OSV with AUDIT_SERVICE=osv); when that
# service cannot be reached every package is skipped, and the target fails instead of reporting
# "No known vulnerabilities found" for an audit that did not happen.
AUDIT_VENV ?= /tmp/yibao-audit-venv
AUDIT_SERVICE ?= pypi
AUDIT_REPORT ?= build/audit.json

.PHONY: audit
audit:
	@test -x $(AUDIT_VENV)/bin/pip-audit || { python3 -m venv $(AUDIT_VENV) && $(AUDIT_VENV)/bin/pip install -q pip-audit; }
	@mkdir -p $(dir $(AUDIT_REPORT))
	-$(AUDIT_VENV)/bin/pip-audit -r requirements/lock.txt --no-deps --disable-pip \
	  --vulnerability-service $(AUDIT_SERVICE) --format json -o $(AUDIT_REPORT)
	@python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["dependencies"]; \
	  skipped=[x["name"] for x in d if x.get("skip_reason")]; vulns=[(x["name"],x["version"],v["id"],",".join(v.get("fix_versions") or []) or "-") for x in d for v in x.get("vulns",[])]; \
	  [print(f"{n}=={ver}  {i}  fixed in: {fix}") for n,ver,i,fix in vulns]; \
	  print(f"audited {len(d)-len(skipped)} of {len(d)} pins, {len(vulns)} known vulnerabilities (docs/security.md explains each)"); \
	  sys.exit("nothing was audited: the vulnerability service could not be reached" if len(skipped)==len(d) else 0)' $(AUDIT_REPORT)
