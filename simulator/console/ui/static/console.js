// Small progressive enhancements; every page works without them.
// 1. Copy buttons: <button class="copy" data-copy="TEXT">Copy</button>
// 2. Live tail: <table data-live-tail="URL?since=N"> appends rows the URL returns as HTML fragments.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  event.preventDefault();
  const text = button.dataset.copy || "";
  const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
  } else {
    fallbackCopy(text, done);
  }
});

function fallbackCopy(text, done) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "absolute";
  area.style.left = "-9999px";
  document.body.appendChild(area);
  area.select();
  try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
  done();
}

function startLiveTail(table) {
  const body = table.tBodies[0];
  let since = table.dataset.since || "0";
  const base = table.dataset.liveTail;
  const poll = () => {
    const url = base + (base.includes("?") ? "&" : "?") + "since=" + encodeURIComponent(since);
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
      .then((html) => {
        const template = document.createElement("template");
        template.innerHTML = html.trim();
        // the rows come newest first: keep that order, above the rows already shown
        const rows = Array.from(template.content.querySelectorAll("tr"));
        rows.forEach((row) => {
          since = row.dataset.id && Number(row.dataset.id) > Number(since) ? row.dataset.id : since;
        });
        rows.reverse().forEach((row) => body.insertBefore(row, body.firstChild));
      })
      .catch(() => {})
      .finally(() => setTimeout(poll, 2000));
  };
  setTimeout(poll, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table[data-live-tail]").forEach(startLiveTail);
});
