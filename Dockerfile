# airbyte-wrapper as one static binary in an empty image.
#
#   docker build -t airbyte-wrapper .
#   docker run -p 8080:8080 -e AIRBYTE_BASE_URL=https://airbyte.example.com/api/v1 \
#       -e AIRBYTE_CLIENT_ID=... -e AIRBYTE_CLIENT_SECRET=... -e API_TOKEN=... airbyte-wrapper
#
# `make image` builds this same file with buildah, without a daemon or a registry. It passes
# `--build-context build=target/image-build-stage`, a directory holding the `make static` binary at
# the path where the rust stage leaves its own (src/target/...). A named build context stands in for
# the stage of that name, in buildah as in BuildKit: the rust stage is skipped, and the final stage,
# one text for both, copies that binary.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
# Fully static (glibc linked in): see .cargo/static.toml.
RUN cargo build --locked --release --config .cargo/static.toml

FROM scratch
COPY --from=build /src/target/x86_64-unknown-linux-gnu/release/airbyte-wrapper /airbyte-wrapper
# Listen on all interfaces inside the container; set API_TOKEN when the port is reachable by others.
ENV LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
# A non-root numeric user: scratch has no /etc/passwd to name one.
USER 65532:65532
ENTRYPOINT ["/airbyte-wrapper"]
