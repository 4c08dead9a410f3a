(function () {
  'use strict';
  const verdict = document.getElementById('filter-verdict');
  const workload = document.getElementById('filter-workload');
  const text = document.getElementById('filter-text');
  const count = document.getElementById('filter-count');
  const rows = Array.prototype.slice.call(document.querySelectorAll('#runs tbody tr'));
  function apply() {
    const v = verdict.value, w = workload.value, q = text.value.trim().toLowerCase();
    let shown = 0;
    for (const row of rows) {
      const ok = (!v || row.dataset.verdict === v) && (!w || row.dataset.workload === w) &&
        (!q || row.textContent.toLowerCase().indexOf(q) >= 0);
      row.hidden = !ok;
      if (ok) shown++;
    }
    count.textContent = 'showing ' + shown + ' of ' + rows.length + ' runs';
  }
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get('verdict')) verdict.value = params.get('verdict');
  if (params.get('workload')) workload.value = params.get('workload');
  for (const input of [verdict, workload]) input.addEventListener('change', () => {
    const p = new URLSearchParams();
    if (verdict.value) p.set('verdict', verdict.value);
    if (workload.value) p.set('workload', workload.value);
    history.replaceState(null, '', '#' + p.toString());
    apply();
  });
  text.addEventListener('input', apply);
  document.getElementById('filters').hidden = false;
  apply();
  document.documentElement.setAttribute('data-report', 'rendered');
})();
