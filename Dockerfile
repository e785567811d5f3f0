# ecoroute: a static (musl) binary on a distroless base, running as a non-root user.
#
#   docker build -t ecoroute .
#   docker run -p 8080:8080 ecoroute
#
# Clients' own keys are forwarded as they come. For the proxy to send its own key instead, mount a
# config with `[llm] api_key_env = "OPENAI_API_KEY"` and pass `-e OPENAI_API_KEY`: the shipped
# config leaves it unset, so the variable alone does nothing.
#
# The image carries the default corpus with its index built at image build time, so a pod starts
# without writing anything; mount another config at /etc/ecoroute/ecoroute.toml to use your own
# search backend and a PostgreSQL ledger (see deploy/k8s/).

FROM rust:1-alpine AS build
# musl-dev and a C compiler for the bundled SQLite and ring; the Alpine toolchain targets musl, so
# the binary is static.
RUN apk add --no-cache musl-dev gcc make perl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
COPY models models
COPY config config
COPY corpus corpus
# The French language pack (`search.languages = ["fr"]` in the config): the config names it, so the
# image cannot start without it.
COPY lang lang
RUN cargo build --release --locked --bin ecoroute \
 && ./target/release/ecoroute index build --config config/ecoroute.toml --output /out/data/index \
 && mkdir -p /out/bin /out/config \
 && cp target/release/ecoroute /out/bin/ \
 && sed -e 's|^listen = .*|listen = "0.0.0.0:8080"|' \
        -e 's|^index_dir = .*|index_dir = "/app/data/index"|' \
        -e 's|^corpus = .*|corpus = "/app/corpus/default.jsonl.gz"|' \
        -e 's|^path = "data/ledger.sqlite"|path = "/tmp/ledger.sqlite"|' \
        config/ecoroute.toml > /out/config/ecoroute.toml \
 && cp -r corpus /out/corpus

FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /app
COPY --from=build /out/bin/ecoroute /usr/local/bin/ecoroute
COPY --from=build --chown=65532:65532 /out/data /app/data
COPY --from=build /out/corpus /app/corpus
COPY --from=build /src/lang /app/lang
COPY --from=build /out/config/ecoroute.toml /etc/ecoroute/ecoroute.toml
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ecoroute"]
CMD ["serve", "--config", "/etc/ecoroute/ecoroute.toml"]
