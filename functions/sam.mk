# The build-<LogicalId> targets that `sam build` calls (Metadata BuildMethod:
# makefile, CodeUri: .), included by the top-level Makefile. Each leaves in
# $(ARTIFACTS_DIR) an executable `bootstrap` for Lambda's provided.al2023
# runtime (x86_64) plus every shared library it needs beyond glibc's own,
# found through DT_RPATH=$ORIGIN. See functions/sam-build.sh and docs/saga.md.
#
#   make build-BookHotelFunction ARTIFACTS_DIR=$(mktemp -d)

SAM_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
SAM_FUNCTIONS := BookHotelFunction BookFlightFunction BookCarFunction \
                 CancelHotelFunction CancelFlightFunction CancelCarFunction

.PHONY: $(addprefix build-,$(SAM_FUNCTIONS))
$(addprefix build-,$(SAM_FUNCTIONS)): build-%:
	@test -n "$(ARTIFACTS_DIR)" || { echo "sam.mk: set ARTIFACTS_DIR" >&2; exit 2; }
	@bash "$(SAM_ROOT)/functions/sam-build.sh" "$*" "$(ARTIFACTS_DIR)"
