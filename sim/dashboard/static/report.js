(() => {
  const table = document.getElementById("report"), tbody = table.tBodies[0];
  const status = document.getElementById("status"), info = document.getElementById("page-info");
  const next = document.getElementById("next"), prev = document.getElementById("prev");
  const retry = document.getElementById("retry");
  const range = {start: "", end: ""};
  let seq = 0;
  const number = new Intl.NumberFormat("vi-VN");
  const money = new Intl.NumberFormat("vi-VN", {style: "currency", currency: "VND"});
  const percent = new Intl.NumberFormat(
    "vi-VN", {minimumFractionDigits: 1, maximumFractionDigits: 1});
  const show = {
    date: v => v.slice(8, 10) + "/" + v.slice(5, 7) + "/" + v.slice(0, 4),
    int: v => number.format(v), money: v => money.format(v), percent: v => percent.format(v) + " %",
    text: v => v,
  };
  function setState(name, message) {
    table.dataset.state = name; status.textContent = message;
    status.className = ["error", "expired", "invalid"].includes(name) ? "error" : "";
    retry.hidden = name !== "error";
  }
  async function load(page) {
    const mine = ++seq;
    table.dataset.page = String(page);
    tbody.replaceChildren(); next.disabled = prev.disabled = true;
    setState("loading", "Loading…");
    const query = new URLSearchParams({start: range.start, end: range.end, page: String(page)});
    let response;
    try {
      response = await fetch("/dashboard/data/" + table.dataset.report + "?" + query,
                             {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}});
    } catch (err) {
      if (mine === seq) setState("error", "Could not reach the server. Try again.");
      return;
    }
    if (mine !== seq) return;
    if (response.status === 401) {
      setState("expired", "Your session has expired. Please sign in again.");
      return;
    }
    if (!response.ok) {
      setState("error",
               "The report could not be loaded (HTTP " + response.status + "). Try again.");
      return;
    }
    const data = await response.json();
    if (mine !== seq) return;
    const head = document.createElement("tr");
    for (const column of data.columns) {
      const th = document.createElement("th"); th.textContent = column.label; head.append(th);
    }
    table.tHead.replaceChildren(head);
    for (const row of data.rows) {
      const tr = document.createElement("tr");
      for (const column of data.columns) {
        const td = document.createElement("td");
        td.textContent = show[column.type](row[column.key]);
        if (column.type !== "text" && column.type !== "date") td.className = "num";
        tr.append(td);
      }
      tbody.append(tr);
    }
    if (!data.rows.length) {
      const tr = document.createElement("tr"), td = document.createElement("td");
      tr.className = "empty"; td.colSpan = data.columns.length;
      td.textContent = "No data for this date range."; tr.append(td); tbody.append(tr);
    }
    table.dataset.pages = String(data.pages); table.dataset.total = String(data.total);
    info.textContent = "Page " + data.page + " of " + data.pages;
    next.disabled = data.page >= data.pages; prev.disabled = data.page <= 1;
    setState("ready", data.total + " rows");
  }
  document.getElementById("apply").addEventListener("click", () => {
    const start = document.getElementById("start").value;
    const end = document.getElementById("end").value;
    const days = (Date.parse(end) - Date.parse(start)) / 86400000 + 1;
    if (!start || !end || !(days >= 1)) {
      setState("invalid", "Choose a start date on or before the end date."); return;
    }
    if (days > Number(table.dataset.maxDays)) {
      setState("invalid", "Choose a range of at most " + table.dataset.maxDays + " days."); return;
    }
    range.start = start; range.end = end; load(1);
  });
  next.addEventListener("click", () => load(Number(table.dataset.page) + 1));
  prev.addEventListener("click", () => load(Number(table.dataset.page) - 1));
  retry.addEventListener("click", () => load(Number(table.dataset.page)));
})();
