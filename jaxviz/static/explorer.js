var t={render({el:e}){e.textContent="explorer: coming"}};export{t as default};
