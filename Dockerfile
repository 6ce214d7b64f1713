# idlemail in a container: the Maildir tree (and the demo user, on first run) under the
# volume /var/lib/idlemail, IMAP on 1143 of every interface, as a user without privileges.
#   docker build -t idlemail .
#   docker run -p 1143:1143 -v idlemail-data:/var/lib/idlemail idlemail
# With a config: mount it and give it as the command, e.g.
#   docker run -v ./idlemail.toml:/etc/idlemail/idlemail.toml:ro ... idlemail --config /etc/idlemail/idlemail.toml
# (its server.listen must say "tcp:1143", not interface=127.0.0.1, to be reachable).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10143 idlemail \
    && useradd --system --uid 10143 --gid 10143 --home-dir /var/lib/idlemail idlemail \
    && mkdir -p /var/lib/idlemail /etc/idlemail \
    && chown idlemail:idlemail /var/lib/idlemail

WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY idlemail ./idlemail
COPY twisted ./twisted
# Twisted's plugin cache is written now, while site-packages is writable (it is not for
# the user the server runs as, and every start would log that it cannot write it).
RUN pip install --no-compile . \
    && python -P -c "from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))" \
    && rm -rf /src

# Numeric, so that the host (and Kubernetes' runAsNonRoot) can resolve it.
USER 10143:10143
WORKDIR /var/lib/idlemail
VOLUME ["/var/lib/idlemail"]
# IMAP; 9143 serves /metrics where [metrics] listen = "tcp:9143" is configured.
EXPOSE 1143 9143

# Healthy when the server greets on its IMAP port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["python", "-c", "import imaplib; imaplib.IMAP4('127.0.0.1', 1143, timeout=4).logout()"]

ENTRYPOINT ["twistd", "--nodaemon", "--pidfile=", "--logfile=-", "idlemail"]
CMD ["--listen", "tcp:1143"]
