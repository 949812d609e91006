# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := demo

.PHONY: demo test install bench clean

$(BIN)/importd: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/importd

# A demo folder with the shipped rules and samples; the service imports them,
# keeps watching demo/inbox, and the ops page runs beside it. Ctrl-C stops both.
WEB_PORT ?= 9465
demo: install
	$(BIN)/importd init $(DEMO)
	cp $(DEMO)/samples/* $(DEMO)/inbox/
	@echo "  a DEMO reviewer for the ops page (demo only: remove it with importd web user remove demo):"
	@$(BIN)/importd web user add demo --role reviewer --generate -c $(DEMO)/importd.toml 2>/dev/null \
	  || $(BIN)/importd web user passwd demo --generate -c $(DEMO)/importd.toml
	@$(BIN)/importd web -c $(DEMO)/importd.toml --port $(WEB_PORT) --log-format console & web=$$!; \
	trap 'kill $$web 2>/dev/null; wait $$web' EXIT; \
	echo; echo "  ops page: http://127.0.0.1:$(WEB_PORT)/   (sign in as demo to decide; Ctrl-C stops the service and the page)"; echo; \
	$(BIN)/importd run -c $(DEMO)/importd.toml --log-format console

test: install
	$(BIN)/pytest

# Quick sizes (a few minutes); `make bench FULL=1` for the full ones (about 15 minutes).
bench: install
	$(BIN)/python bench/run_all.py $(if $(FULL),--full)

clean:
	rm -rf $(VENV) $(DEMO) build dist *.egg-info
