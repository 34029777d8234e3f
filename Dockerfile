# airbyte-wrapper as one static binary in an empty image.
#
#   docker build -t airbyte-wrapper .
#   docker run -p 8080:8080 -e AIRBYTE_BASE_URL=https://airbyte.example.com/api/v1 \
#       -e AIRBYTE_CLIENT_ID=... -e AIRBYTE_CLIENT_SECRET=... -e API_TOKEN=... airbyte-wrapper

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
